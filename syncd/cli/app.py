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
from typing import Any, Optional

import typer
from rich.table import Table

from syncd import __version__
from syncd import log as log_mod
from syncd.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    ConfigOpt,
    Output,
    OutputOpt,
    err,
    fail,
    load_config,
    out,
    print_json,
)
from syncd.cli.db import db_app
from syncd.cli.events import events_app
from syncd.cli.helptext import finish_help, hoist_global_options
from syncd.cli.links import links_app
from syncd.cli.routes import routes_app
from syncd.cli.startup import loading, one_line, startup_problem
from syncd.errors import ConfigError, SyncdError
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
    log_level: str = typer.Option("info", "--log-level", metavar="LEVEL",
                                  help="debug, info, warning or error (before or after the command)."),
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
def init(output: Path = typer.Option(Path("syncd.yaml"), "-o", "--output", metavar="FILE",
                                     help="Where to write the config."),
         connector: list[str] = typer.Option(None, "--connector", metavar="TYPE",
                                             help="jira, slack, linear or asana (repeatable)."),
         cogny_url: str = typer.Option("https://api.cogny.com/v1", "--cogny-url", metavar="URL"),
         warehouse: list[str] = typer.Option(None, "--warehouse", metavar="ID",
                                             help="Warehouse id (repeatable)."),
         store_url: str = typer.Option("sqlite:///syncd.db", "--store-url", metavar="URL"),
         jira_url: Optional[str] = typer.Option(None, "--jira-url", metavar="URL",
                                                help="e.g. https://acme.atlassian.net"),
         jira_project: Optional[str] = typer.Option(None, "--jira-project", metavar="KEY",
                                                    help="e.g. GROWTH"),
         slack_channel: Optional[str] = typer.Option(None, "--slack-channel", metavar="CHANNEL",
                                                     help="e.g. #growth or C0123ABCD"),
         linear_team: Optional[str] = typer.Option(None, "--linear-team", metavar="KEY", help="e.g. GROW"),
         asana_workspace: Optional[str] = typer.Option(None, "--asana-workspace", metavar="GID"),
         asana_project: Optional[str] = typer.Option(None, "--asana-project", metavar="GID"),
         force: bool = typer.Option(False, "--force", help="Overwrite an existing file.")) -> None:
    """Write a commented syncd.yaml (asks for what flags leave out, on a terminal), then check it."""
    from syncd.cli import init as init_mod

    interactive = sys.stdin.isatty()
    chosen = list(connector or [])
    unknown = init_mod.unknown_targets(chosen)
    if unknown:
        fail(f"--connector: unknown {', '.join(unknown)} (choose from {', '.join(init_mod.TEMPLATES)})",
             EXIT_CONFIG)
    if not chosen and interactive:
        chosen = init_mod.ask_targets(out)

    def ask(value: Optional[str], key: str, needed: bool) -> str:
        if value or not needed:
            return value or ""
        flag = "--" + key.replace("_", "-")
        if not interactive:
            fail(f"{flag} is required for the chosen connectors (no terminal to ask on)", EXIT_CONFIG)
        return str(typer.prompt(init_mod.PROMPTS[key]))

    values = {
        "jira_url": ask(jira_url, "jira_url", "jira" in chosen),
        "jira_project": ask(jira_project, "jira_project", "jira" in chosen),
        "slack_channel": ask(slack_channel, "slack_channel", "slack" in chosen),
        "linear_team": ask(linear_team, "linear_team", "linear" in chosen),
        "asana_workspace": ask(asana_workspace, "asana_workspace", "asana" in chosen),
        "asana_project": ask(asana_project, "asana_project", "asana" in chosen),
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
        out.print(f"not checked yet: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set",
                  markup=False)
        out.print(f"next: export {' '.join(f'{m}=...' for m in missing)}", markup=False)
        out.print(f"then: {init_mod.syncd_command()} check-config -c {output} --connect", markup=False)
        return
    check_config(output, connect=False, output=Output.table)
    out.print(f"next: {init_mod.syncd_command()} check-config -c {output} --connect   "
              "(proves each credential with read-only calls)", markup=False)


@app.command("check-config")
def check_config(config: Optional[Path] = ConfigOpt,
                 connect: bool = typer.Option(False, "--connect", help="Also check credentials and targets "
                                                                      "with read-only calls."),
                 output: Output = OutputOpt) -> None:
    """Validate the config and print the resolved routing, secrets masked."""
    cfg = load_config(config)
    receives = {name: [f"route {i}" for i, r in enumerate(cfg.routes) if name in r.connectors]
                for name in cfg.connectors}
    routes = [({k: v for k, v in r.match.model_dump().items() if v is not None}, list(r.connectors))
              for r in cfg.routes]
    if output is Output.json:
        from syncd.redact import redact as mask

        checks = None
        if connect:
            from syncd.cli.checks import collect_checks

            checks = [{"name": c.name, "ok": c.ok, "detail": mask(c.detail or ""), "fix": c.fix or None}
                      for c in collect_checks(cfg)]
        print_json({"source": str(cfg.source) if cfg.source else None,
                    "connectors": [{"name": n, "type": e.type, "routes": receives[n] if cfg.routes else None}
                                   for n, e in cfg.connectors.items()],
                    "routes": [{"index": i, "match": m, "connectors": c} for i, (m, c) in enumerate(routes)],
                    "checks": checks})
        raise typer.Exit(EXIT_FAILED if checks and not all(c["ok"] for c in checks) else EXIT_OK)
    out.print(f"config OK: {cfg.source}")
    table = Table("connector", "type", "receives")
    for name, entry in cfg.connectors.items():
        table.add_row(*cells(name, entry.type, ", ".join(receives[name]) if cfg.routes else "every ticket"))
    out.print(table if cfg.connectors else "no connectors: tickets are listed and sent nowhere", markup=False)
    for i, (match, names) in enumerate(routes):
        out.print(f"route {i}: {match or 'everything'} -> {', '.join(names)}", markup=False)
    if connect:
        from syncd.cli.checks import run_checks

        ok = run_checks(cfg, out)
        raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


@app.command("run-once")
def run_once(
    config: Optional[Path] = ConfigOpt,
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Print the plan; make no write call and change no state."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, max=64, metavar="N",
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
        code = do_run(cfg, dry_run=dry_run, console=out)
    except Exception as exc:
        problem = startup_problem(exc, cfg.store.url)
        if problem:  # could not start: the store unreachable, refusing TLS, its directory not writable
            fail(problem, EXIT_CONFIG)
        if isinstance(exc, SyncdError):
            fail(one_line(str(exc)))
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(exc, SQLAlchemyError):
            raise
        # the store failing under us (locked past its timeout, gone): one line
        fail(f"store: {type(exc).__name__}: {one_line(str(getattr(exc, 'orig', None) or exc))}")
    raise typer.Exit(code)


@app.command("run")
def run(config: Optional[Path] = ConfigOpt,
        workers: int = typer.Option(2, "--workers", min=1, max=32, metavar="N",
                                    help="Inbox worker threads.")) -> None:
    """Run the daemon: poll on schedule, receive webhooks, drain the inbox. SIGTERM exits 0, SIGHUP
    reloads."""
    with loading():
        from syncd.daemon.daemon import Daemon

    cfg = load_config(config)
    try:
        Daemon(cfg, config_path=str(config) if config else None, worker_threads=workers).run_forever()
    except Exception as exc:  # could not start: one line naming the key (webhook.port, store.url), exit 2
        problem = startup_problem(exc, cfg.store.url)
        if problem is None and not isinstance(exc, SyncdError):
            raise
        fail(problem or one_line(str(exc)), EXIT_CONFIG)


@app.command("status")
def status(config: Optional[Path] = ConfigOpt, output: Output = OutputOpt) -> None:
    """Links per connector and state, and the last runs."""
    from syncd.cli.status import print_status, status_document

    cfg = load_config(config)
    try:
        if output is Output.json:
            print_json(status_document(cfg))
        else:
            print_status(cfg, out)
    except Exception as exc:
        problem = startup_problem(exc, cfg.store.url)
        if problem:
            fail(problem, EXIT_CONFIG)
        if not isinstance(exc, SyncdError):
            raise
        fail(one_line(str(exc)))


@app.command("sandbox")
def sandbox(service: str = typer.Argument(..., metavar="SERVICE",
                                          help="cogny, jira, slack, linear or asana."),
            port: int = typer.Option(8000, "--port", min=0, max=65535, metavar="PORT"),
            host: str = typer.Option("127.0.0.1", "--host", metavar="HOST"),
            tickets: int = typer.Option(25, "--tickets", min=0, metavar="N",
                                        help="Generated tickets (cogny)."),
            seed: int = typer.Option(0, "--seed", metavar="N",
                                     help="Seed of the generated tickets (cogny).")) -> None:
    """Serve one sandbox (cogny, jira, slack, linear or asana) until Ctrl-C, for trying syncd
    without real accounts."""
    from syncd.cli.sandboxes import serve

    try:
        serve(service, host=host, port=port, tickets=tickets, seed=seed, console=out)
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)
    except Exception as exc:
        from syncd.http.server import ServerStartError

        if not isinstance(exc, ServerStartError):
            raise
        fail(f"--port: {exc}", EXIT_CONFIG)


@app.command("demo")
def demo(serve: bool = typer.Option(False, "--serve", help="Keep the sandboxes running until Ctrl-C."),
         tickets: int = typer.Option(12, "--tickets", min=1, max=500, metavar="N",
                                     help="Tickets in the Cogny sandbox."),
         workdir: Optional[Path] = typer.Option(None, "--workdir", metavar="DIR",
                                                help="Where to write the demo config and store (kept)."),
         keep: bool = typer.Option(False, "--keep", help="Keep the temporary folder of the config and store "
                                                        "(removed on exit otherwise).")) -> None:
    """Run syncd end to end against local sandboxes: no accounts, no config needed."""
    from syncd.cli.demo import run_demo

    ok = run_demo(console=out, tickets=tickets, serve=serve, workdir=workdir, keep=keep)
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


@app.command("render")
def render_command(ticket_id: str = typer.Argument(..., metavar="TICKET_ID", help="Cogny ticket id."),
                   config: Optional[Path] = ConfigOpt,
                   connector: Optional[str] = typer.Option(
                       None, "--connector", metavar="NAME",
                       help="Only this connector (default: every connector the ticket routes to)."),
                   file: Optional[Path] = typer.Option(
                       None, "--file", metavar="FILE",
                       help="Read the ticket from this JSON file instead of fetching it from Cogny."),
                   internal: bool = typer.Option(
                       False, "--internal",
                       help="Show syncd's internal rendering (record, items, hash) instead of the requests."),
                   ) -> None:
    """Print, as JSON, the request bodies each connector would send to create the ticket's record
    (field ids resolved); sends nothing. --internal shows the record syncd hashes instead."""
    from syncd.cli import render as render_cmd

    cfg = load_config(config)
    try:
        text, ok = render_cmd.run(cfg, ticket_id, connector, file, internal=internal)
    except ConfigError as exc:
        fail("; ".join(exc.problems), EXIT_CONFIG)
    except SyncdError as exc:
        fail(one_line(str(exc)))
    sys.stdout.write(text + "\n")
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def command() -> Any:
    """The click command `main` runs (on Typer's copy of click): the app, plain placeholders in its help."""
    return finish_help(typer.main.get_command(app))


def main() -> None:
    """Run the CLI; an error no command expected is one line on stderr and exit 1, not a traceback."""
    cli = command()
    names = set(getattr(cli, "commands", {}))
    try:
        cli(args=hoist_global_options(sys.argv[1:], names), prog_name="syncd")
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
