"""`syncd run`: scheduler, webhook receiver and inbox worker in one process, for months on end.

Signals: SIGTERM/SIGINT stop accepting, finish or release in-flight work and exit 0;
SIGHUP (or POST /-/reload from the loopback) reloads the config — an invalid new config is
logged and the old one keeps running.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from syncd import config as config_mod
from syncd import routing
from syncd.app import App
from syncd.cycle import filters_match, run_cycle
from syncd.errors import ConfigError, NotFound, SyncdError, TicketDataError
from syncd.inbox import Claim, Inbox
from syncd.leader import Leadership
from syncd.lockfile import lock_sqlite
from syncd.models import Ticket
from syncd.reconcile import TicketLocks
from syncd.redact import redact
from syncd.sandbox.server import ServerThread
from syncd.webhook import IngestWriter, Receiver
from syncd.worker import IGNORED, Worker

log = structlog.get_logger("syncd.daemon")


class Daemon:
    def __init__(self, config: config_mod.Config, *, config_path: str | None = None, worker_threads: int = 2):
        self.config = config
        self.config_path = config_path or config.source
        self.worker_threads = worker_threads
        self.locks = TicketLocks(config.store.url)
        self._stop = threading.Event()
        self._swap = threading.Lock()
        self._lockfile: Any = None
        self.app: App | None = None
        self.scheduler: BackgroundScheduler | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._lockfile = lock_sqlite(self.config.store.url)
        self.app = App.build(self.config)
        c = self.config.inbox
        self.inbox = Inbox(self.app.store.engine, max_attempts=c.max_attempts, backoff=c.backoff_seconds,
                           max_backoff=c.max_backoff_seconds, lease_seconds=c.lease_seconds)
        self.worker = Worker(self.inbox, self.process, threads=self.worker_threads)
        self.writer = IngestWriter(self.inbox, on_stored=self.worker.wake)
        w = self.config.webhook
        self.receiver = Receiver(writer=self.writer, inbox=self.inbox, secrets=lambda: self.config.webhook.all_secrets(),
                                 path=w.path, max_body=w.max_body_bytes, tolerance=w.tolerance_seconds,
                                 ready=self.readiness, reload=self.reload)
        self.server = ServerThread(self.receiver.app(), host=w.host, port=w.port).start()
        self.worker.start()
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.scheduler.add_job(self.poll, self._trigger(), id="poll", max_instances=1, coalesce=True,
                               misfire_grace_time=None)
        self.scheduler.start()
        # The first poll runs when this replica becomes leader (at once on SQLite).
        self.leadership = Leadership(self.config.store.url, self.config.schedule.leader_check_seconds,
                                     on_elected=lambda: self.scheduler.modify_job("poll", next_run_time=_now())
                                     if self.scheduler else None)
        self.leadership.start()
        log.info("syncd running", webhook=f"http://{w.host}:{self.server.port}{w.path}",
                 connectors=sorted(self.app.connectors), store=_safe(self.config.store.url))

    def run_forever(self) -> None:
        """Start, then serve until SIGTERM/SIGINT; SIGHUP reloads."""
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload, daemon=True).start())
        self.start()
        while not self._stop.wait(1.0):
            pass
        self.shutdown()

    def shutdown(self) -> None:
        log.info("shutting down")
        started = time.monotonic()
        self._stop.set()
        self.server.stop()  # stop accepting first: senders retry elsewhere or later
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self.leadership.stop()
        self.worker.stop(timeout=6.0)
        self.writer.stop()
        if self.app is not None:
            self.app.close()
        if self._lockfile is not None:
            self._lockfile.close()
        log.info("stopped", seconds=round(time.monotonic() - started, 2))

    # -- work --------------------------------------------------------------------------------
    def poll(self) -> None:
        if not self.leadership.is_leader:
            return  # another replica runs the schedule
        with self._swap:
            app, config = self.app, self.config
        assert app is not None
        try:
            run_cycle(config, app.reconciler(locks=self.locks), app.cogny, kind="poll",
                      should_stop=self._stop.is_set)
        except Exception as exc:  # a failed cycle must never kill the scheduler
            log.error("poll cycle failed", error=redact(str(exc)))

    def process(self, claim: Claim) -> str | None:
        """Reconcile the claimed events' ticket, fetched fresh. None on success, else the error."""
        with self._swap:
            app, config = self.app, self.config
        assert app is not None
        if claim.ticket_id is None:
            self.inbox.ignore(claim.ids, "event names no ticket")
            return IGNORED
        try:
            ticket = Ticket.parse(app.cogny.get_ticket(claim.ticket_id))
        except NotFound:
            self.inbox.ignore(claim.ids, "ticket no longer exists in Cogny")
            return IGNORED
        except TicketDataError as exc:
            return str(exc)
        linked = bool(app.store.links_for_ticket(ticket.id))
        if not (linked or filters_match(ticket, config.cogny)):
            self.inbox.ignore(claim.ids, "ticket outside cogny.filters / warehouses")
            return IGNORED
        targets = routing.route(ticket, config.routes, list(app.connectors))
        result = app.reconciler(locks=self.locks).reconcile(ticket, targets)
        if result.failed:
            return "; ".join(f"{o.connector}: {o.error}" for o in result.outcomes if o.error) or result.error
        return None

    # -- operations --------------------------------------------------------------------------
    def reload(self) -> tuple[bool, list[str]]:
        """Swap in a new config if it is valid; keep the old one otherwise."""
        try:
            new = config_mod.load(self.config_path)
            new_app = App.build(new)
        except ConfigError as exc:
            log.error("config reload rejected; keeping the running config", problems=exc.problems)
            return False, exc.problems
        except SyncdError as exc:
            log.error("config reload rejected; keeping the running config", error=redact(str(exc)))
            return False, [str(exc)]
        with self._swap:
            old, self.app, self.config = self.app, new_app, new
        if self.scheduler is not None:
            self.scheduler.reschedule_job("poll", trigger=self._trigger())
        if old is not None:
            threading.Timer(30.0, old.close).start()  # let in-flight work finish on the old clients
        log.info("config reloaded", connectors=sorted(new_app.connectors))
        return True, []

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        detail: dict[str, Any] = {}
        try:
            detail["store"] = self.app.store.revision() is not None if self.app else False
        except Exception:
            detail["store"] = False
        detail["scheduler"] = bool(self.scheduler and self.scheduler.running)
        ok = all(detail.values())
        detail["leader"] = self.leadership.is_leader
        return ok, detail

    def _trigger(self) -> Any:
        s = self.config.schedule
        if s.cron:
            return CronTrigger.from_crontab(s.cron, timezone="UTC")
        return IntervalTrigger(seconds=s.interval_seconds or 3600)


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _safe(url: str) -> str:
    from syncd.store import _safe_url

    return _safe_url(url)
