"""`syncd run`: scheduler, webhook receiver and inbox worker in one process, for months on end.

Signals: SIGTERM/SIGINT stop accepting, finish or release in-flight work and exit 0;
SIGHUP (or POST /-/reload on the admin listener, from the loopback with the admin.auth credentials)
reloads the config — an invalid new config is logged and the old one keeps running, a valid one is
logged with the keys that changed. Reloads are
coalesced (one at a time; those asked for meanwhile share one follow-up), and a replaced App is
closed as soon as the work still using it is done, so a burst of reloads costs no lasting
threads or file descriptors.

Two listeners: `webhook.host:webhook.port` (public: webhooks and the probes) and
`admin.host:admin.port` (the console, /metrics, /-/reload, /-/webhooks/NAME; loopback by default).
Every `HEARTBEAT_SECONDS` the daemon writes its row in the store's `daemons` table (leader, last and
next poll), which `syncd status` and the console read.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import IO, Any, Iterator, Mapping

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from syncd import __version__
from syncd import config as config_mod
from syncd.config import sync_back_connectors
from syncd.console import Console, Credentials, Sources
from syncd.daemon import admin, coalesce, inbound
from syncd.daemon.changes import changed_keys
from syncd.daemon.inbound import TargetHooks
from syncd.daemon.leader import Leadership
from syncd.daemon.reloads import Coalesced
from syncd.daemon.webhook import IngestWriter, Receiver
from syncd.daemon.worker import IGNORED, Worker
from syncd.engine import routing
from syncd.engine.app import App
from syncd.engine.cycle import run_cycle
from syncd.engine.listing import filters_match
from syncd.errors import ConfigError, NotFound, SyncdError, TicketDataError
from syncd.http.server import Limits, ServerStartError, ServerThread
from syncd.models import Ticket
from syncd.redact import redact
from syncd.sdk.connector import Connector, digest
from syncd.sdk.syncback import RemoteState
from syncd.store.inbox import Claim, Inbox, NewEvent
from syncd.store.lockfile import lock_sqlite
from syncd.store.locks import TicketLocks
from syncd.store.observed import LinkedRecord, ObservedStore
from syncd.store.views import forget_daemon, heartbeat

log = structlog.get_logger("syncd.daemon")
HEARTBEAT_SECONDS = 10.0
class Daemon:
    def __init__(self, config: config_mod.Config, *, config_path: str | None = None, worker_threads: int = 2):
        self.config = config
        self.config_path = config_path or config.source
        self.worker_threads = worker_threads
        self.locks = TicketLocks(config.store.url)
        self._stop = threading.Event()
        self._swap = threading.Lock()
        self._lockfile: IO[str] | None = None
        self._back_since: dict[str, datetime] = {}  # connector -> when its last clean sync-back poll started
        self._users: dict[int, int] = {}        # id(App) -> work in progress on it (see `_using`)
        self._retired: dict[int, App] = {}      # replaced Apps, closed when their last user is done
        self._reloads: Coalesced[tuple[bool, list[str]]] = Coalesced(self._reload_now, "reload")
        self.app: App | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:128]
        self.started_at = _now()
        self.last_poll: datetime | None = None
        self.admin_server: ServerThread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._lockfile = lock_sqlite(self.config.store.url)
        self.app = App.build(self.config)
        c = self.config.inbox
        self.inbox = Inbox(self.app.store.engine, max_attempts=c.max_attempts, backoff=c.backoff_seconds,
                           max_backoff=c.max_backoff_seconds, lease_seconds=c.lease_seconds)
        self.worker = Worker(self.inbox, self.process, threads=self.worker_threads,
                             batch=self.config.cogny.page_size, prepare=self.prepare)
        self.writer = IngestWriter(self.inbox, on_stored=self.worker.wake)
        # Built before the server starts, since /readyz reports it; the first poll runs when this
        # replica becomes leader (at once on SQLite), after `leadership.start()` below.
        self.leadership = Leadership(self.config.store.url, self.config.schedule.leader_check_seconds,
                                     on_elected=self._poll_now)
        w = self.config.webhook
        targets = TargetHooks(writer=self.writer,
                              observed=lambda: ObservedStore(self._live()[0].store.engine),
                              current=self._using_connectors, read_timeout=w.read_timeout_seconds)
        self.receiver = Receiver(writer=self.writer, inbox=self.inbox,
                                 secrets=lambda: self.config.webhook.all_secrets(),
                                 path=w.path, max_body=w.max_body_bytes, tolerance=w.tolerance_seconds,
                                 read_timeout=w.read_timeout_seconds, ready=self.readiness,
                                 reload=lambda: asyncio.wrap_future(self._reloads.request()),
                                 admin_auth=self._admin_auth, targets=targets.receive,
                                 create_hook=targets.create)
        limits = Limits(read_timeout=w.read_timeout_seconds, max_connections=w.max_connections,
                        max_per_client=w.max_requests_per_client)
        self.server = ServerThread(self.receiver.app(), host=w.host, port=w.port, limits=limits,
                                   name="http").start()
        self._start_admin(limits)
        self.worker.start()
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.scheduler.add_job(self.poll, self._trigger(), id="poll", max_instances=1, coalesce=True,
                               misfire_grace_time=None)
        self.scheduler.add_job(self.poll_back, self._back_trigger(), id="syncback", max_instances=1,
                               coalesce=True, misfire_grace_time=None)
        self.scheduler.add_job(self.beat, IntervalTrigger(seconds=HEARTBEAT_SECONDS), id="heartbeat",
                               max_instances=1, coalesce=True)
        self.scheduler.start()
        self.leadership.start()
        self.beat()
        self._log_running()

    def _start_admin(self, limits: Limits) -> None:
        """The admin listener: console, /metrics, /-/reload, /-/webhooks/NAME (never the webhook port)."""
        a = self.config.admin
        console = Console(Sources(engine=lambda: self._live()[0].store.engine, config=lambda: self._live()[1],
                                  credentials=self._credentials))
        try:
            self.admin_server = ServerThread(console.app(self.receiver.admin_routes()), host=a.host,
                                             port=a.port, limits=limits, name="admin").start()
        except ServerStartError as exc:
            self.server.stop()
            self.writer.stop()
            raise SyncdError(f"admin.port: {exc} (the console's listener: choose another admin.port)"
                             ) from None

    def _log_running(self) -> None:
        """The start-up line: schedule and next poll, every endpoint, workers, and what needs attention."""
        assert self.app is not None and self.admin_server is not None
        log.info("syncd running", **admin.running_fields(
            self.config, sorted(self.app.connectors), self.server.port, self.admin_server.port,
            _iso(self._next_poll()), self.worker_threads))

    def beat(self) -> None:
        """Write this daemon's row (leader, last and next poll) for `syncd status` and the console."""
        try:
            app, config = self._live()
            heartbeat(app.store.engine, dict(
                instance=self.instance, host=socket.gethostname()[:255], pid=os.getpid(), version=__version__,
                config=self.config_path, leader=self.leadership.is_leader, started_at=self.started_at,
                heartbeat_at=_now(), last_poll_at=self.last_poll,
                next_poll_at=self._next_poll() if self.leadership.is_leader else None))
        except Exception as exc:  # the store may be down for a while; the next beat tries again
            log.warning("heartbeat not written", error=redact(str(exc)))

    def _next_poll(self) -> datetime | None:
        job = self.scheduler.get_job("poll") if self.scheduler is not None else None
        return job.next_run_time if job is not None else None

    def run_forever(self) -> None:
        """Start, then serve until SIGTERM/SIGINT; SIGHUP reloads."""
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reloads.request())  # returns at once; coalesced
        self.start()
        while not self._stop.wait(1.0):
            pass
        self.shutdown()

    def shutdown(self) -> None:
        log.info("shutting down")
        started = time.monotonic()
        self._stop.set()
        self.server.stop()  # stop accepting first: senders retry elsewhere or later
        if self.admin_server is not None:
            self.admin_server.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self.leadership.stop()
        self.worker.stop(timeout=6.0)
        self.writer.stop()
        with self._swap:
            apps = [a for a in (self.app, *self._retired.values()) if a is not None]
            self._retired.clear()
        if apps:
            try:
                forget_daemon(apps[0].store.engine, self.instance)  # `syncd status`: no daemon running
            except Exception:  # the store is gone: the row ages out
                pass
        for app in apps:
            app.close()
        if self._lockfile is not None:
            self._lockfile.close()
        log.info("stopped", seconds=round(time.monotonic() - started, 2))

    # -- work --------------------------------------------------------------------------------
    def poll(self) -> None:
        if not self.leadership.is_leader:
            return  # another replica runs the schedule
        self.last_poll = _now()
        with self._using() as (app, config):
            try:
                run_cycle(config, app.reconciler(locks=self.locks), app.cogny, kind="poll",
                          should_stop=self._stop.is_set)
            except Exception as exc:  # a failed cycle must never kill the scheduler
                log.error("poll cycle failed", error=redact(str(exc)))
        self.beat()  # the console and `syncd status` see the new next poll at once

    def poll_back(self) -> None:
        """Read the linked records of every sync-back connector; each change becomes an inbox event."""
        with self._using() as (app, config):
            self._poll_back(app, config)

    def _poll_back(self, app: App, config: config_mod.Config) -> None:
        names = sync_back_connectors(config)
        if not names or not self.leadership.is_leader:
            return
        syncback = app.syncback(locks=self.locks)
        for name in names:
            started = _now()
            since = self._back_since.get(name) or app.store.last_clean_start()
            report = syncback.poll(name, since, on_change=self._enqueue_change)
            if report.error is None:
                self._back_since[name] = started
            log.info("sync-back poll", connector=name, read=report.read, changed=report.changed,
                     error=report.error)

    def _enqueue_change(self, record: LinkedRecord, state: RemoteState) -> None:
        stamp = digest([state.category, dict(state.items), str(state.updated_at)])[:16]
        payload = json.dumps({"connector": record.connector, "record_ids": [record.external_id],
                              "delivery": "poll"})
        if self.inbox.add(NewEvent(f"{record.connector}:poll:{record.external_id}:{stamp}"[:255],
                                   inbound.EVENT_TYPE, record.ticket_id, payload, source=inbound.SOURCE)):
            self.worker.wake()

    def prepare(self, claims: list[Claim]) -> None:
        """Several tickets' events claimed at once: create the new ones' records together first."""
        with self._using() as (app, config):
            coalesce.create_new(app, config, self.locks, claims)

    def process(self, claim: Claim) -> str | None:
        """Reconcile the claimed events' ticket, fetched fresh. None on success, else the error."""
        with self._using() as (app, config):
            return self._process(app, config, claim)

    def _process(self, app: App, config: config_mod.Config, claim: Claim) -> str | None:
        if claim.ticket_id is None:
            self.inbox.ignore(claim.ids, "event names no ticket")
            return IGNORED
        try:
            written = self._carry_back(app, config, claim)
        except Exception as exc:
            return f"sync-back: {type(exc).__name__}: {redact(str(exc))}"
        only_target = all(e.source == inbound.SOURCE for e in claim.events)
        if written is None and only_target:
            return None  # the target's change was already in Cogny (or an echo of ours)
        try:
            # sync-back just read the ticket under its lock and wrote it: no need to read it again
            ticket = written if only_target and written is not None else \
                Ticket.parse(app.cogny.get_ticket(claim.ticket_id))
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

    def _carry_back(self, app: App, config: config_mod.Config, claim: Claim) -> Ticket | None:
        """Apply the claimed target events' changes to Cogny; the ticket as written, or None if not
        written."""
        names = {e.payload.get("connector") for e in claim.events if e.source == inbound.SOURCE}
        enabled = [n for n in sync_back_connectors(config) if n in names and n in app.connectors]
        if not enabled:
            return None
        assert claim.ticket_id is not None
        syncback = app.syncback(locks=self.locks)
        written = None
        for name in sorted(enabled):
            applied = syncback.refresh(claim.ticket_id, name)
            if applied is not None and applied.wrote:
                written = applied.ticket
        return written

    def _live(self) -> tuple[App, config_mod.Config]:
        """The live App and config, for a quick look that makes no outbound call (the store stays usable)."""
        with self._swap:
            app, config = self.app, self.config
        assert app is not None
        return app, config

    @contextmanager
    def _using(self) -> Iterator[tuple[App, config_mod.Config]]:
        """The live App and config, kept open until the block ends even if a reload replaces them."""
        with self._swap:
            app, config = self.app, self.config
            assert app is not None
            self._users[id(app)] = self._users.get(id(app), 0) + 1
        try:
            yield app, config
        finally:
            with self._swap:
                left = self._users.pop(id(app)) - 1
                if left:
                    self._users[id(app)] = left
                retired = self._retired.pop(id(app), None) if not left else None
            if retired is not None:
                retired.close()  # the last user of a replaced App

    @contextmanager
    def _using_connectors(self) -> Iterator[tuple[Mapping[str, Connector], config_mod.Config]]:
        """`_using` as the target webhooks see it: the live connectors and config."""
        with self._using() as (app, config):
            yield app.connectors, config

    def _credentials(self) -> Credentials | None:
        return admin.credentials(self.config)

    def _admin_auth(self, request: Any) -> bool | None:
        return admin.admin_auth(self.config, request)

    # -- operations --------------------------------------------------------------------------
    def reload(self) -> tuple[bool, list[str]]:
        """Reload (coalesced with any reload under way) and wait for the outcome."""
        return self._reloads.request().result()

    def _reload_now(self) -> tuple[bool, list[str]]:
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
        changed = changed_keys(self.config, new)
        with self._swap:
            old, self.app, self.config = self.app, new_app, new
            busy = old is not None and id(old) in self._users
            if old is not None and busy:  # in-flight work finishes on the old clients, then closes them
                self._retired[id(old)] = old
        if old is not None and not busy:
            old.close()
        if self.scheduler is not None:
            self.scheduler.reschedule_job("poll", trigger=self._trigger())
            self.scheduler.reschedule_job("syncback", trigger=self._back_trigger())
        restart = [k for k in changed
                   if k.split(".")[0] in ("admin", "store") or k in ("webhook.host", "webhook.port")]
        log.info("config reloaded", connectors=sorted(new_app.connectors), changed=changed or "nothing",
                 needs_restart=restart or None)
        self.beat()  # the next poll may have moved
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

    def _poll_now(self) -> None:
        """This replica just became leader: run the first poll at once, not at the next tick."""
        if self.scheduler:
            self.scheduler.modify_job("poll", next_run_time=_now())

    def _back_trigger(self) -> BaseTrigger:
        return IntervalTrigger(seconds=self.config.sync_back.interval_seconds)

    def _trigger(self) -> BaseTrigger:
        s = self.config.schedule
        if s.cron:
            return CronTrigger.from_crontab(s.cron, timezone="UTC")
        return IntervalTrigger(seconds=s.interval_seconds or 3600)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="seconds") if when is not None else None
