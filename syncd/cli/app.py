"""`syncd` command line. Exit codes: 0 success, 1 some tickets or checks failed, 2 bad config or usage.

This module is the Typer app: the global options, `main()`, and the top-level commands, each a few
lines that load the config and hand over to the module holding its body (`runner`, `status`,
`checks`, `render`, `init`, `demo`, `sandboxes`), imported only when the command runs so that
`syncd --help` and a no-op `run-once` stay quick. The command groups live in their own modules and
are registered here: `routes`, `db`, `links`, `events`. What they all share is in `common`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from syncd import __version__
from syncd import log as log_mod
from syncd.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, ConfigOpt, err, fail, load_config, out
from syncd.cli.db import db_app
from syncd.cli.events import events_app
from syncd.cli.links import links_app
from syncd.cli.routes import routes_app
from syncd.cli.startup import loading
from syncd.errors import ConfigError, StoreBusy, SyncdError
from syncd.redact import redact
from syncd.terminal import cells, printable

app = typer.Typer(help="Mirror Cogny growth tickets into JIRA, Linear, Asana and Slack.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False)
# `syncd --help` lists the groups after the commands, in this order.
app.add_typer(routes_app, name="routes")
app.add_typer(db_app, name="db")
app.add_typer(links_app, name="links")
app.add_typer(events_app, name="events")


def _version(value: bool) -> None:
    """`--version`: print it and stop before any command runs (the option is eager)."""
    if value:
        out.print(f"syncd {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    log_json: Optional[bool] = typer.Option(None, "--log-json/--log-console",
                                            help="Log format (default: JSON unless stderr is a terminal)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="On an unexpected error, show the traceback "
                               "(also SYNCD_DEBUG=1)."),
) -> None:
    """The options before the command name: logging for every command, and --debug for `main()`."""
    if debug:
        os.environ["SYNCD_DEBUG"] = "1"
    if log_level not in log_mod.LEVELS:
        raise typer.BadParameter(f"must be one of {', '.join(log_mod.LEVELS)}", param_hint="--log-level")
    log_mod.configure(log_level, json=log_json)


@app.command("init")
def init(output: Path = typer.Option(Path("syncd.yaml"), "-o", "--output", help="Where to write the config."),
         connector: list[str] = typer.Option(None, "--connector",
                                             help="jira, slack, linear or asana (repeatable)."),
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
    chosen = connector or (typer.prompt("Targets (comma-separated: jira, slack, linear, asana)",
                                        default="jira").replace(" ", "").split(",") if interactive else [])
    unknown = [c for c in chosen if c not in init_mod.TEMPLATES]
    if unknown:
        fail(f"--connector: unknown {unknown} (choose from {', '.join(init_mod.TEMPLATES)})", EXIT_CONFIG)

    def ask(value: Optional[str], label: str, needed: bool) -> str:
        if value or not needed:
            return value or ""
        if not interactive:
            fail(f"{label} is required for the chosen connectors (no terminal to ask on)", EXIT_CONFIG)
        return str(typer.prompt(label))

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
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Print the plan; make no write call and change no state."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, max=64,
                                              help="Tickets reconciled at once (default: sync.concurrency)."),
) -> None:
    """Run one sync cycle: list tickets, route, reconcile, write references back. Exit 1 if any
    ticket failed."""
    with loading():
        from syncd.cli.runner import run_once as do_run

    cfg = load_config(config)
    if concurrency:
        cfg.sync.concurrency = concurrency
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
    """Run the daemon: poll on schedule, receive webhooks, drain the inbox. SIGTERM exits 0, SIGHUP
    reloads."""
    with loading():
        from syncd.daemon.daemon import Daemon

    cfg = load_config(config)
    try:
        Daemon(cfg, config_path=str(config) if config else None, worker_threads=workers).run_forever()
    except SyncdError as exc:
        fail(str(exc), EXIT_CONFIG)


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
         workdir: Optional[Path] = typer.Option(None, "--workdir",
                                                help="Where to write the demo config and store.")) -> None:
    """Run syncd end to end against local sandboxes: no accounts, no config needed."""
    from syncd.cli.demo import run_demo

    ok = run_demo(console=out, tickets=tickets, serve=serve, workdir=workdir)
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


@app.command("render")
def render_command(ticket_id: str = typer.Argument(..., help="Cogny ticket id."),
                   config: Optional[Path] = ConfigOpt,
                   connector: Optional[str] = typer.Option(
                       None, "--connector",
                       help="Only this connector (default: every connector the ticket routes to)."),
                   file: Optional[Path] = typer.Option(
                       None, "--file",
                       help="Read the ticket from this JSON file instead of fetching it from Cogny."),
                   ) -> None:
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
    """Run the CLI; an error no command expected is one line on stderr and exit 1, not a traceback."""
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
    command = next((f"syncd {a}" for a in argv if not a.startswith("-")), "syncd")
    message = " ".join(str(exc).split()) or "no message"
    return (f"{command}: failed: {type(exc).__name__}: {printable(redact(message))} "
            "(run it again with --debug or SYNCD_DEBUG=1 to see the traceback)")


if __name__ == "__main__":
    main()
