"""`syncd demo`: every sandbox on 127.0.0.1, a generated config, and syncd working on them, step by step."""

from __future__ import annotations

import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, cast

import yaml
from rich.console import Console
from rich.table import Table

from syncd import config as config_mod
from syncd.cli import sandboxes
from syncd.cli.common import syncd_command
from syncd.cli.runner import _with_progress, print_summary
from syncd.engine.app import App
from syncd.engine.cycle import run_cycle
from syncd.models import STATUSES
from syncd.terminal import cells

if TYPE_CHECKING:
    from syncd.daemon.daemon import Daemon
    from syncd.sandbox import Sandbox
    from syncd.sandbox.cogny.sandbox import CognySandbox
    from syncd.sandbox.jira.sandbox import JiraSandbox
    from syncd.store.database import ItemLink, Link, Store

WEBHOOK_SECRET = "whsec_demo_secret"
JIRA_HOOK_SECRET = "jira_demo_hook_secret"


def run_demo(*, console: Console, tickets: int = 12, serve: bool = False, workdir: Path | None = None,
             keep: bool = False,
             on_finish: Callable[[CognySandbox, dict[str, Sandbox]], None] | None = None) -> bool:
    """The guided tour; `on_finish(cogny, targets)` sees the sandboxes before they stop (tests).

    Without `workdir`, the config and store go in a `syncd-demo-*` temp folder that is removed on
    exit, however the demo ends, unless `serve` or `keep` asks for it (then the demo says where).
    """
    from syncd import log

    log.configure("warning")  # the demo narrates; per-call log lines would drown it
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        return _tour(console, tickets, serve, workdir, on_finish)
    temp = Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    try:
        with _exit_on_sigterm():  # `kill`, like Ctrl-C, still removes the folder
            return _tour(console, tickets, serve, temp, on_finish)
    finally:
        if serve or keep:
            console.print(f"kept: {temp}   (the demo's config and store; remove it when done)", markup=False)
        else:
            shutil.rmtree(temp, ignore_errors=True)


@contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """SIGTERM raises SystemExit (so `finally` blocks run) while inside; the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _tour(console: Console, tickets: int, serve: bool, workdir: Path,
          on_finish: Callable[[CognySandbox, dict[str, Sandbox]], None] | None) -> bool:
    """Steps 1 to 4 in `workdir`; with `serve`, the sandboxes then stay up until Ctrl-C."""
    syncd = syncd_command()
    with ExitStack() as stack:
        cogny = stack.enter_context(sandboxes.cogny(tickets, seed=1))
        targets = {name: stack.enter_context(sandboxes.make(name)) for name in sandboxes.available()}
        console.rule("[bold]syncd demo")
        console.print(f"Cogny sandbox {cogny.url}; targets: " +
                      ", ".join(f"{n} {sb.url}" for n, sb in targets.items()))
        path = write_config(workdir, cogny, targets)
        cfg = config_mod.load(path)
        show_tickets(console, cogny)
        with App.build(cfg) as app:
            ok = _sync(console, cfg, app, "1. first sync")
            show_links(console, app)
            show_notes(console, cogny)
            writes_before = _writes(cogny, targets)
            ok &= _sync(console, cfg, app, "2. second sync: nothing changed")
            extra = _writes(cogny, targets) - writes_before
            console.print(f"[bold green]{extra} writes[/bold green] on the second run "
                          "(content hashes matched)")
            ok &= extra == 0
        ok &= _webhook_step(console, cfg, cogny, targets)
        if on_finish is not None:
            on_finish(cogny, targets)
        console.rule()
        console.print(f"config: {path}")
        console.print(f"store:  {cfg.store.url}")
        if serve:
            console.print(f"daemon: {syncd} run -c {path}    "
                          "(in another shell; the sandboxes stay up until Ctrl-C here)", markup=False)
            console.print(f"console: http://{cfg.admin.host}:{cfg.admin.port}/    "
                          "(the operator's console, served by that daemon)", markup=False)
            _wait_forever()
        else:
            console.print(f"next:   {syncd} demo --serve   keeps the sandboxes running, "
                          f"then: {syncd} run -c <the config it prints>", markup=False)
    return ok


def _webhook_step(console: Console, cfg: config_mod.Config, cogny: CognySandbox,
                  targets: dict[str, Sandbox]) -> bool:
    """Start the daemon in-process, edit a ticket in Cogny, and time the signed webhook's effect."""
    from syncd.daemon.daemon import Daemon

    console.rule("3. an edit in Cogny arrives by signed webhook")
    daemon = Daemon(cfg)
    daemon.start()
    try:
        url = f"http://127.0.0.1:{daemon.server.port}{cfg.webhook.path}"
        cogny.subscribe(url, WEBHOOK_SECRET)
        ticket_id = sorted(cogny.tickets)[0]
        before = _writes(cogny, targets)
        started = time.monotonic()
        cogny.edit_ticket(ticket_id, title="Edited in Cogny: " + cogny.ticket(ticket_id)["title"][:60],
                          priority="critical")
        console.print(f"edited {ticket_id} in the Cogny sandbox (title; priority → critical); "
                      f"Cogny signs and posts the event to {url}")
        assert daemon.app is not None
        store = daemon.app.store
        synced = _wait(lambda: all(_newer(ln, started) for ln in store.links_for_ticket(ticket_id)), 10)
        elapsed = time.monotonic() - started
        table = Table("connector", "record", "state", title=f"{ticket_id} after the webhook")
        for ln in store.links_for_ticket(ticket_id):
            table.add_row(*cells(ln.connector, ln.external_key or ln.external_id, ln.state))
        console.print(table)
        writes = _writes(cogny, targets) - before
        if synced:
            console.print(f"[bold green]synced {elapsed:.2f}s after the edit[/bold green] "
                          f"({writes} write calls)")
        else:
            console.print("[red]the webhook's change did not arrive within 10 s[/red]")
        if "jira" in targets:
            synced &= _sync_back_step(console, daemon, cogny, cast("JiraSandbox", targets["jira"]))
        return synced
    finally:
        daemon.shutdown()


def _first_with_subtasks(store: Store) -> tuple[str, dict[str, ItemLink]] | None:
    """The first ticket linked to JIRA that has sub-tasks, with them (the edited one may have none)."""
    for link in store.list_links(connector="jira"):
        items = store.items(link.id) if link.id is not None else {}
        if items:
            return link.ticket_id, items
    return None


def _sync_back_step(console: Console, daemon: Daemon, cogny: CognySandbox, jira: JiraSandbox) -> bool:
    """Close a JIRA sub-task as a person would; JIRA's webhook carries it into the Cogny ticket."""
    console.rule("4. progress in JIRA flows back into Cogny (sync_back: true)")
    jira.add_webhook(f"http://127.0.0.1:{daemon.server.port}/webhooks/jira", secret=JIRA_HOOK_SECRET)
    assert daemon.app is not None
    found = _first_with_subtasks(daemon.app.store)
    if found is None:
        console.print("no JIRA issue with sub-tasks to close")
        return True
    ticket_id, items = found
    title, item = sorted(items.items())[0]
    key = item.external_key or item.external_id  # JIRA gives every sub-task a key
    started = time.monotonic()
    jira.set_status(key, "Done")
    console.print(f"closed sub-task {key} of {ticket_id} in the JIRA sandbox; JIRA posts a signed webhook")
    done = _wait(lambda: any(a["title"] == title and a["completed"]
                             for a in cogny.ticket(ticket_id)["action_items"]), 10)
    status = cogny.ticket(ticket_id)["status"]
    if done:
        took = time.monotonic() - started
        console.print(f"[bold green]action item {title!r} completed in Cogny {took:.2f}s "
                      f"later[/bold green]; ticket status: {status}")
    else:
        console.print("[red]the sub-task's progress did not reach Cogny within 10 s[/red]")
    return done


def _newer(link: Link, started: float) -> bool:
    """Whether `link` was synced after the moment `started` (a monotonic clock reading)."""
    since = time.time() - (time.monotonic() - started)
    return link.synced_at is not None and link.synced_at.timestamp() >= since


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def write_config(workdir: Path, cogny: CognySandbox, targets: dict[str, Sandbox]) -> Path:
    """The demo's syncd.yaml: every connector on its sandbox, tickets of every status."""
    connectors = {name: sandboxes.KINDS[name].connector(sb) for name, sb in targets.items()}
    if "jira" in targets:  # progress made in JIRA flows back (step 4)
        connectors["jira"].update(sync_back=True, webhook_secret=JIRA_HOOK_SECRET)
    doc: dict[str, Any] = {
        "cogny": {"base_url": f"{cogny.url}/v1", "api_key": sandboxes.COGNY_KEY,
                  "filters": {"status": list(STATUSES)}},
        "store": {"url": f"sqlite:///{workdir / 'syncd.db'}"},
        # A real port, not 0: the sandboxes' webhook subscriptions (steps 3 and 4) point at it, and
        # with --serve, `syncd run` on this config must listen where they post.
        "webhook": {"host": "127.0.0.1", "port": _free_port(), "secret": WEBHOOK_SECRET},
        "admin": {"host": "127.0.0.1", "port": _free_port()},  # the console: beside any other syncd
        "connectors": connectors,
    }
    if {"jira", "slack"} <= set(targets):
        doc["routes"] = [{"match": {"priority": ["critical", "high"]}, "connectors": ["jira", "slack"]},
                         {"match": {}, "connectors": [n for n in targets if n not in ("jira", "slack")]}]
    path = workdir / "syncd.yaml"
    path.write_text("# written by `syncd demo`: every URL points at a local sandbox\n" +
                    yaml.safe_dump(doc, sort_keys=False))
    return path


def _free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def show_tickets(console: Console, cogny: CognySandbox) -> None:
    table = Table("ticket", "priority", "category", "title", "items", title="tickets found in Cogny")
    for t in sorted(cogny.tickets.values(), key=lambda t: t["id"]):
        table.add_row(*cells(t["id"], t["priority"], t["category"], t["title"][:60], len(t["action_items"])))
    console.print(table)


def show_links(console: Console, app: App) -> None:
    table = Table("ticket", "connector", "record", "url", title="created where")
    for ln in app.store.list_links():
        table.add_row(*cells(ln.ticket_id, ln.connector, ln.external_key or ln.external_id, ln.external_url))
    console.print(table)


def show_notes(console: Console, cogny: CognySandbox, limit: int = 2) -> None:
    for t in sorted(cogny.tickets.values(), key=lambda t: t["id"])[:limit]:
        console.print(f"[bold]notes of {t['id']}[/bold] (written back):")
        console.print(t.get("notes") or "(empty)", markup=False)


def _sync(console: Console, cfg: config_mod.Config, app: App, title: str) -> bool:
    console.rule(title)
    report = _with_progress(console, lambda progress: run_cycle(cfg, app.reconciler(), app.cogny,
                                                                progress=progress))
    print_summary(report, console)
    return report.ok


def _writes(cogny: CognySandbox, targets: dict[str, Sandbox]) -> int:
    return len(cogny.log.writes()) + sum(len(sb.log.writes()) for sb in targets.values())


def _wait_forever() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
