"""`syncd` command line. Exit codes: 0 success, 1 some tickets or checks failed, 2 bad config or usage."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from syncd import __version__
from syncd import config as config_mod
from syncd import log as log_mod
from syncd.errors import ConfigError, SyncdError
from syncd.redact import redact
from syncd.cli.startup import loading
from syncd.terminal import Terminal, cells

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

app = typer.Typer(help="Mirror Cogny growth tickets into JIRA, Linear, Asana and Slack.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False)
routes_app = typer.Typer(help="Inspect routing.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the mapping store.", no_args_is_help=True)
links_app = typer.Typer(help="Show where tickets went.", no_args_is_help=True)
app.add_typer(routes_app, name="routes")
app.add_typer(db_app, name="db")
events_app = typer.Typer(help="Inspect and retry webhook events in the inbox.", no_args_is_help=True)
app.add_typer(links_app, name="links")
app.add_typer(events_app, name="events")

# Piped output (cron logs, CI, grep) gets wide tables instead of wrapped cells.
out = Terminal(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Terminal(stderr=True, highlight=False, soft_wrap=True)
ConfigOpt = typer.Option(None, "-c", "--config", help="Config file (default: $SYNCD_CONFIG, else ./syncd.yaml).")


def _version(value: bool) -> None:
    if value:
        out.print(f"syncd {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    log_json: Optional[bool] = typer.Option(None, "--log-json/--log-console",
                                            help="Log format (default: JSON unless stderr is a terminal)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="On an unexpected error, show the traceback "
                               "(also SYNCD_DEBUG=1)."),
) -> None:
    if debug:
        os.environ["SYNCD_DEBUG"] = "1"
    if log_level not in log_mod.LEVELS:
        raise typer.BadParameter(f"must be one of {', '.join(log_mod.LEVELS)}", param_hint="--log-level")
    log_mod.configure(log_level, json=log_json)


def load_config(path: Optional[Path]) -> config_mod.Config:
    """Load the config or exit 2 with one line per problem."""
    try:
        return config_mod.load(path)
    except ConfigError as exc:
        where = f" ({exc.source})" if exc.source else ""
        err.print(f"syncd: invalid config{where}:", markup=False)
        for problem in exc.problems:
            err.print(f"  {redact(problem)}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None


def fail(message: str, code: int = EXIT_FAILED) -> None:
    err.print(f"syncd: {redact(message)}", markup=False)
    raise typer.Exit(code)


@app.command("init")
def init(output: Path = typer.Option(Path("syncd.yaml"), "-o", "--output", help="Where to write the config."),
         connector: list[str] = typer.Option(None, "--connector", help="jira, slack, linear or asana (repeatable)."),
         cogny_url: str = typer.Option("https://api.cogny.com/v1", "--cogny-url"),
         warehouse: list[str] = typer.Option(None, "--warehouse", help="Warehouse id (repeatable)."),
         store_url: str = typer.Option("sqlite:///syncd.db", "--store-url"),
         jira_url: Optional[str] = typer.Option(None, "--jira-url"),
         jira_project: Optional[str] = typer.Option(None, "--jira-project"),
         slack_channel: Optional[str] = typer.Option(None, "--slack-channel"),
         linear_team: Optional[str] = typer.Option(None, "--linear-team"),
         asana_workspace: Optional[str] = typer.Option(None, "--asana-workspace"),
         asana_project: Optional[str] = typer.Option(None, "--asana-project"),
         force: bool = typer.Option(False, "--force", help="Overwrite an existing file.")) -> None:
    """Write a commented syncd.yaml (asks for what flags leave out, on a terminal), then check it."""
    from syncd.cli import init as init_mod

    interactive = sys.stdin.isatty()
    chosen = connector or (typer.prompt("Targets (comma-separated: jira, slack, linear, asana)", default="jira")
                           .replace(" ", "").split(",") if interactive else [])
    unknown = [c for c in chosen if c not in init_mod.TEMPLATES]
    if unknown:
        fail(f"--connector: unknown {unknown} (choose from {', '.join(init_mod.TEMPLATES)})", EXIT_CONFIG)

    def ask(value: Optional[str], label: str, needed: bool) -> str:
        if value or not needed:
            return value or ""
        if not interactive:
            fail(f"{label} is required for the chosen connectors (no terminal to ask on)", EXIT_CONFIG)
        return typer.prompt(label)

    values = {
        "jira_url": ask(jira_url, "--jira-url", "jira" in chosen),
        "jira_project": ask(jira_project, "--jira-project", "jira" in chosen),
        "slack_channel": ask(slack_channel, "--slack-channel", "slack" in chosen),
        "linear_team": ask(linear_team, "--linear-team", "linear" in chosen),
        "asana_workspace": ask(asana_workspace, "--asana-workspace", "asana" in chosen),
        "asana_project": ask(asana_project, "--asana-project", "asana" in chosen),
    }
    text, env = init_mod.render(chosen, cogny_url=cogny_url, warehouses=warehouse or [], store_url=store_url,
                                values=values)
    try:
        init_mod.write(output, text, force=force)
    except FileExistsError as exc:
        fail(str(exc), EXIT_CONFIG)
    out.print(f"wrote {output}")
    missing = [name for name in env if not os.environ.get(name)]
    if missing:
        out.print(f"next: export {' '.join(f'{m}=...' for m in missing)}")
        out.print(f"then: syncd check-config -c {output} --connect")
        return
    check_config(output, connect=False)


@app.command("check-config")
def check_config(config: Optional[Path] = ConfigOpt,
                 connect: bool = typer.Option(False, "--connect", help="Also check credentials and targets "
                                                                      "with read-only calls.")) -> None:
    """Validate the config and print the resolved routing, secrets masked."""
    cfg = load_config(config)
    out.print(f"config OK: {cfg.source}")
    table = Table("connector", "type", "receives")
    for name, entry in cfg.connectors.items():
        rules = [f"route {i}" for i, r in enumerate(cfg.routes) if name in r.connectors]
        table.add_row(*cells(name, entry.type, ", ".join(rules) if cfg.routes else "every ticket"))
    out.print(table)
    if cfg.routes:
        for i, r in enumerate(cfg.routes):
            match = {k: v for k, v in r.match.model_dump().items() if v is not None} or "everything"
            out.print(f"route {i}: {match} -> {', '.join(r.connectors)}", markup=False)
    if connect:
        from syncd.cli.checks import run_checks

        ok = run_checks(cfg, out)
        raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


@app.command("run-once")
def run_once(
    config: Optional[Path] = ConfigOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; make no write call and change no state."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, max=64,
                                              help="Tickets reconciled at once (default: sync.concurrency)."),
) -> None:
    """Run one sync cycle: list tickets, route, reconcile, write references back. Exit 1 if any ticket failed."""
    with loading():
        from syncd.cli.runner import run_once as do_run

    cfg = load_config(config)
    if concurrency:
        cfg.sync.concurrency = concurrency
    from syncd.store.lockfile import StoreBusy

    try:
        ok = do_run(cfg, dry_run=dry_run, console=out)
    except StoreBusy as exc:
        fail(str(exc), EXIT_CONFIG)
    except SyncdError as exc:
        fail(str(exc))
    except Exception as exc:  # the store failing under us (locked past its timeout, gone): one line
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(exc, SQLAlchemyError):
            raise
        fail(f"store: {type(exc).__name__}: {getattr(exc, 'orig', None) or exc}")
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


@app.command("run")
def run(config: Optional[Path] = ConfigOpt,
        workers: int = typer.Option(2, "--workers", min=1, max=32, help="Inbox worker threads.")) -> None:
    """Run the daemon: poll on schedule, receive webhooks, drain the inbox. SIGTERM exits 0, SIGHUP reloads."""
    with loading():
        from syncd.daemon.daemon import Daemon

    cfg = load_config(config)
    try:
        Daemon(cfg, config_path=str(config) if config else None, worker_threads=workers).run_forever()
    except SyncdError as exc:
        fail(str(exc), EXIT_CONFIG)


@events_app.command("list")
def events_list(config: Optional[Path] = ConfigOpt,
                state: Optional[str] = typer.Option(None, "--state", help="pending, running, done, dead or ignored."),
                limit: int = typer.Option(50, "--limit", min=1)) -> None:
    """List inbox events, newest first."""
    inbox = _inbox(config)
    table = Table("id", "event", "type", "ticket", "state", "attempts", "received", "last error")
    for e in inbox.list(state, limit):
        table.add_row(*cells(e.id, e.event_id, e.type, e.ticket_id, e.state, e.attempts,
                             str(e.received_at)[:19], redact(e.last_error or "")[:60]))
    out.print(table)


@events_app.command("retry")
def events_retry(config: Optional[Path] = ConfigOpt,
                 ids: list[int] = typer.Argument(None, help="Inbox ids (the `id` column of `events list`)."),
                 all_dead: bool = typer.Option(False, "--all-dead", help="Retry every dead event.")) -> None:
    """Put dead events back in the queue (a running daemon picks them up)."""
    if not ids and not all_dead:
        fail("name event ids or pass --all-dead", EXIT_CONFIG)
    count = _inbox(config).retry(ids or None, all_dead=all_dead)
    out.print(f"{count} event(s) queued again")


@events_app.command("purge")
def events_purge(config: Optional[Path] = ConfigOpt,
                 older_than: str = typer.Option("30d", "--older-than", help="Age like 30d, 12h or 90m.")) -> None:
    """Delete finished (done, ignored, dead) events older than the given age."""
    import re
    from datetime import timedelta

    m = re.fullmatch(r"(\d+)([dhm])", older_than.strip())
    if not m:
        fail(f"--older-than: expected a number and d, h or m (e.g. 30d), got {older_than!r}", EXIT_CONFIG)
    assert m is not None
    unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
    count = _inbox(config).purge(timedelta(**{unit: int(m.group(1))}))
    out.print(f"{count} event(s) purged")


def _inbox(config: Optional[Path]) -> Any:
    from syncd.store.inbox import Inbox
    from syncd.store.database import Store

    cfg = load_config(config)
    try:
        store = Store.open(cfg.store.url)
    except SyncdError as exc:
        fail(str(exc))
    return Inbox(store.engine, max_attempts=cfg.inbox.max_attempts)


@routes_app.command("test")
def routes_test(config: Optional[Path] = ConfigOpt,
                labels: list[str] = typer.Argument(..., metavar="KEY=VALUE...",
                                                   help="Ticket fields: priority, category, status, warehouse_id.")) -> None:
    """Print which connectors a ticket with these fields would reach."""
    from syncd.engine import routing

    cfg = load_config(config)
    ticket: dict[str, Any] = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or key not in routing.MATCH_KEYS:
            fail(f"expected KEY=VALUE with KEY one of {', '.join(routing.MATCH_KEYS)}, got {item!r}", EXIT_CONFIG)
        ticket[key] = value
    for index, matched, names in routing.explain(ticket, cfg.routes):
        out.print(f"route {index}: {'match' if matched else 'no match'} -> {', '.join(names)}", markup=False)
    targets = routing.route(ticket, cfg.routes, cfg.connectors)
    out.print(", ".join(targets) if targets else "(no connector)", markup=False)


@db_app.command("upgrade")
def db_upgrade(config: Optional[Path] = ConfigOpt) -> None:
    """Apply the store's migrations (also done at every start)."""
    from syncd.store.database import Store

    cfg = load_config(config)
    try:
        store = Store.open(cfg.store.url, migrate=False)
        revision = store.migrate()
    except SyncdError as exc:
        fail(str(exc))
    out.print(f"store at revision {revision}")


@db_app.command("forget-hook-secret")
def db_forget_hook_secret(connector: str = typer.Argument(..., help="The connector whose webhook is re-registered."),
                          config: Optional[Path] = ConfigOpt) -> None:
    """Drop the secret an Asana webhook handshake stored, so the next handshake is accepted."""
    from syncd.store.observed import ObservedStore
    from syncd.store.database import Store

    cfg = load_config(config)
    if connector not in cfg.connectors:
        fail(f"no connector named {connector!r} (configured: {', '.join(cfg.connectors) or 'none'})", EXIT_CONFIG)
    try:
        forgot = ObservedStore(Store.open(cfg.store.url).engine).forget_hook_secret(connector)
    except SyncdError as exc:
        fail(str(exc))
    out.print(f"{connector}: {'secret forgotten' if forgot else 'no secret was stored'}; "
              f"register the webhook again with POST /-/webhooks/{connector} on the running daemon", markup=False)


@links_app.command("list")
def links_list(config: Optional[Path] = ConfigOpt,
               ticket: Optional[str] = typer.Option(None, "--ticket", help="Only this ticket id."),
               connector: Optional[str] = typer.Option(None, "--connector", help="Only this connector."),
               limit: int = typer.Option(200, "--limit", min=1)) -> None:
    """List links: ticket, connector, state, external key and URL."""
    from syncd.store.database import Store

    cfg = load_config(config)
    try:
        store = Store.open(cfg.store.url)
    except SyncdError as exc:
        fail(str(exc))
    table = Table("ticket", "connector", "state", "key", "url", "last error")
    for ln in store.list_links(ticket_id=ticket, connector=connector, limit=limit):
        table.add_row(*cells(ln.ticket_id, ln.connector, ln.state, ln.external_key or ln.external_id,
                             ln.external_url, redact(ln.last_error or "")[:80]))
    out.print(table)


@app.command("status")
def status(config: Optional[Path] = ConfigOpt) -> None:
    """Links per connector and state, and the last runs."""
    from syncd.cli.status import print_status

    cfg = load_config(config)
    try:
        print_status(cfg, out)
    except SyncdError as exc:
        fail(str(exc))


@app.command("sandbox")
def sandbox(service: str = typer.Argument(..., help="cogny or jira"),
            port: int = typer.Option(8000, "--port", min=0, max=65535),
            host: str = typer.Option("127.0.0.1", "--host"),
            tickets: int = typer.Option(25, "--tickets", min=0, help="Generated tickets (cogny)."),
            seed: int = typer.Option(0, "--seed")) -> None:
    """Serve one sandbox until Ctrl-C, for trying syncd without real accounts."""
    from syncd.cli.sandboxes import serve

    try:
        serve(service, host=host, port=port, tickets=tickets, seed=seed, console=out)
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)


@app.command("demo")
def demo(serve: bool = typer.Option(False, "--serve", help="Keep the sandboxes running until Ctrl-C."),
         tickets: int = typer.Option(12, "--tickets", min=1, max=500),
         workdir: Optional[Path] = typer.Option(None, "--workdir", help="Where to write the demo config and store.")) -> None:
    """Run syncd end to end against local sandboxes: no accounts, no config needed."""
    from syncd.cli.demo import run_demo

    ok = run_demo(console=out, tickets=tickets, serve=serve, workdir=workdir)
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


@app.command("render")
def render_command(ticket_id: str = typer.Argument(..., help="Cogny ticket id."),
                   config: Optional[Path] = ConfigOpt,
                   connector: Optional[str] = typer.Option(None, "--connector", help="Only this connector "
                                                           "(default: every connector the ticket routes to)."),
                   file: Optional[Path] = typer.Option(None, "--file", help="Read the ticket from this JSON file "
                                                       "instead of fetching it from Cogny.")) -> None:
    """Print, as JSON, exactly what each connector would send for one ticket; sends nothing."""
    from syncd.cli import render as render_cmd

    cfg = load_config(config)
    try:
        text, ok = render_cmd.run(cfg, ticket_id, connector, file)
    except ConfigError as exc:
        fail("; ".join(exc.problems), EXIT_CONFIG)
    except SyncdError as exc:
        fail(str(exc))
    sys.stdout.write(text + "\n")
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # an unexpected error: one line, the traceback only on request
        if os.environ.get("SYNCD_DEBUG", "") not in ("", "0"):
            raise
        err.print(unexpected_error_line(sys.argv[1:], exc), markup=False)
        sys.exit(EXIT_FAILED)


def unexpected_error_line(argv: list[str], exc: BaseException) -> str:
    """`syncd demo: failed: <error> (...)`: what failed and what to do, on one line."""
    command = next((a for a in argv if not a.startswith("-")), "")
    message = " ".join(str(exc).split()) or "no message"
    return (f"syncd {command}: failed: {type(exc).__name__}: {redact(message)} "
            "(run it again with --debug or SYNCD_DEBUG=1 to see the traceback)").replace("syncd : ", "syncd: ")


if __name__ == "__main__":
    main()
