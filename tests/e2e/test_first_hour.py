"""A newcomer's first hour (issue 20, points 1, 6, 7, 8, 9, 12): the real CLI as a subprocess.

Start-up failures are one line naming the config key (exit 2); typos in read commands exit 2
naming the valid values; listings say how much there is before showing it; help, README and
behaviour agree; `syncd init` asks again after a typo; `syncd demo` leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from syncd.sandbox._common.tickets import generate_tickets
from syncd.store.database import Store
from syncd.store.inbox import Inbox, NewEvent
from tests.support.config import ENV
from tests.support.daemon import SECRET
from tests.support.process import free_port, run_cli, wait_for
from tests.support.world import world

pytestmark = pytest.mark.e2e
JIRA = ("jira: {type: jira, url: https://acme.atlassian.net, email: bot@acme.io, api_token: '${JIRA_TOKEN}', "
        "project: GROWTH}")
OFFLINE_ENV = {"COGNY_API_KEY": "sk_test_x", "JIRA_TOKEN": "jira-token"}


def offline_config(tmp_path: Path, store_url: str | None = None, extra: str = "") -> Path:
    """A config whose targets are never contacted by the commands under test."""
    path = tmp_path / "syncd.yaml"
    url = store_url or f"sqlite:///{tmp_path / 'syncd.db'}"
    path.write_text(f"cogny: {{api_key: '${{COGNY_API_KEY}}', base_url: 'http://127.0.0.1:9/v1'}}\n"
                    f"store: {{url: '{url}'}}\nconnectors:\n  {JIRA}\n{extra}")
    return path


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failing command wrote on stderr (fails when there are more, or a traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return lines[0]


# -- 1. start-up failures -------------------------------------------------------------------------

def test_webhook_port_taken_is_one_line_naming_webhook_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        webhook = f"webhook: {{host: 127.0.0.1, port: {port}, secret: {SECRET}}}\n"
        cfg = offline_config(tmp_path, extra=webhook)
        result = run_cli("run", "-c", str(cfg), env=OFFLINE_ENV, timeout=60)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    line = one_line(result)
    assert line.startswith(f"syncd: webhook.port: cannot listen on 127.0.0.1:{port}: "), line
    assert "in use" in line.lower()


def test_webhook_host_not_of_this_machine_is_one_line_naming_webhook_host(tmp_path: Path) -> None:
    webhook = f"webhook: {{host: 192.0.2.1, port: {free_port()}, secret: {SECRET}}}\n"  # TEST-NET-1
    result = run_cli("run", "-c", str(offline_config(tmp_path, extra=webhook)), env=OFFLINE_ENV, timeout=60)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert one_line(result).startswith("syncd: webhook.host: cannot listen on 192.0.2.1:")


def test_store_unreachable_is_one_line_naming_store_url_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://syncd:hunter2secret@127.0.0.1:{free_port()}/syncd"
    cfg = offline_config(tmp_path, url)
    for command in (("run",), ("run-once",), ("status",), ("links", "list"), ("events", "list"),
                    ("db", "upgrade")):
        result = run_cli(*command, "-c", str(cfg), env=OFFLINE_ENV, timeout=60)
        assert result.returncode == 2, (command, result.stderr[-2000:])
        line = one_line(result)
        assert re.match(r"syncd: store.url: cannot (open|migrate) postgresql\+psycopg://syncd:\*\*\*@127",
                        line), line
        assert "refused" in line.lower() and "hunter2secret" not in result.stdout + result.stderr


@pytest.fixture
def server_without_tls() -> Iterator[int]:
    """A PostgreSQL-looking listener that declines TLS: it answers every SSLRequest with 'N'."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(8)  # length + SSLRequest code
                    conn.sendall(b"N")
                    conn.recv(1024)  # the client gives up (sslmode=require) and closes
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_store_refusing_tls_is_one_line_naming_store_url(tmp_path: Path, server_without_tls: int) -> None:
    cfg = offline_config(tmp_path, f"postgresql+psycopg://u:p@127.0.0.1:{server_without_tls}/db?sslmode=require")
    result = run_cli("run-once", "-c", str(cfg), env=OFFLINE_ENV, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    line = one_line(result)
    assert line.startswith("syncd: store.url: cannot open ") and "SSL" in line, line


def test_sqlite_directory_missing_is_one_line_naming_store_url(tmp_path: Path) -> None:
    cfg = offline_config(tmp_path, f"sqlite:///{tmp_path / 'no-such-dir' / 'syncd.db'}")
    for command in (("run-once",), ("status",)):
        result = run_cli(*command, "-c", str(cfg), env=OFFLINE_ENV, timeout=60)
        assert result.returncode == 2, (command, result.stderr[-2000:])
        assert one_line(result).startswith("syncd: store.url: cannot open "), result.stderr


def test_sqlite_directory_not_writable_is_one_line_naming_store_url(tmp_path: Path) -> None:
    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o500)
    # root writes into any directory it may not write to by mode; sysfs refuses even root (EACCES)
    where = Path("/sys") if os.geteuid() == 0 else locked
    try:
        cfg = offline_config(tmp_path, f"sqlite:///{where / 'syncd.db'}")
        result = run_cli("run-once", "-c", str(cfg), env=OFFLINE_ENV, timeout=60)
    finally:
        locked.chmod(0o700)
    assert result.returncode == 2, result.stderr[-2000:]
    line = one_line(result)
    assert line.startswith("syncd: store.url: cannot open ") and "ermission denied" in line, line


# -- 6. typos in read commands --------------------------------------------------------------------

def test_typos_in_read_commands_exit_2_naming_the_valid_values(tmp_path: Path) -> None:
    cfg = str(offline_config(tmp_path))
    cases = {
        ("links", "list", "--connector", "jra"): "syncd: --connector: unknown connector 'jra' (valid: jira)",
        ("events", "list", "--state", "deadd"):
            "syncd: --state: unknown state 'deadd' (valid: dead, done, ignored, pending, running)",
        ("routes", "test", "priority=hgh"):
            "syncd: priority: unknown value 'hgh' (valid: critical, high, medium, low)",
        ("routes", "test", "status=opn"):
            "syncd: status: unknown value 'opn' (valid: open, in_progress, completed, dismissed)",
        ("events", "retry", "999"):
            "syncd: no event with id 999 in the inbox (the `id` column of `syncd events list`)",
    }
    for args, expected in cases.items():
        result = run_cli(*args, "-c", cfg, env=OFFLINE_ENV)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert one_line(result) == expected, args


# -- 7. tables ------------------------------------------------------------------------------------

def fill_store(tmp_path: Path, links: int, events: int) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
    store.claim_creates([f"tkt_{i:04d}" for i in range(links)], "jira")
    Inbox(store.engine).add_many([NewEvent(f"evt_{i}", "ticket.updated", f"tkt_{i:04d}", "{}")
                                  for i in range(events)])
    store.close()


def test_listings_say_how_much_there_is_before_showing_it(tmp_path: Path) -> None:
    cfg = str(offline_config(tmp_path))
    fill_store(tmp_path, links=12, events=7)
    env = {**OFFLINE_ENV, "COLUMNS": ""}  # piped, no width given: Rich's 80 columns

    links = run_cli("links", "list", "-c", cfg, "--limit", "5", env=env)
    assert links.returncode == 0, links.stderr
    lines = links.stdout.splitlines()
    assert lines[:2] == ["12 link(s): 12 creating", "showing 5 of 12 (--limit N or --all for more)"]
    assert sum("tkt_" in ln for ln in lines) == 5
    assert max(len(ln) for ln in lines) <= 80

    every = run_cli("links", "list", "-c", cfg, "--limit", "5", "--all", env=env)
    assert every.stdout.splitlines()[0] == "12 link(s): 12 creating" and "showing" not in every.stdout
    assert sum("tkt_" in ln for ln in every.stdout.splitlines()) == 12

    events = run_cli("events", "list", "-c", cfg, "--limit", "3", env=env)
    assert events.stdout.splitlines()[:2] == ["7 event(s): 7 pending",
                                               "showing 3 of 7 (--limit N or --all for more)"]


def test_empty_listings_say_so_instead_of_an_empty_box(tmp_path: Path) -> None:
    cfg = str(offline_config(tmp_path))
    assert run_cli("links", "list", "-c", cfg, env=OFFLINE_ENV).stdout == "no links\n"
    assert run_cli("events", "list", "-c", cfg, env=OFFLINE_ENV).stdout == "no events\n"
    assert run_cli("events", "list", "-c", cfg, "--state", "dead", env=OFFLINE_ENV).stdout == "no events\n"


def test_every_read_command_speaks_json(tmp_path: Path) -> None:
    routes = "routes: [{match: {priority: [critical]}, connectors: [jira]}]\n"
    cfg = str(offline_config(tmp_path, extra=routes))
    fill_store(tmp_path, links=3, events=2)

    def document(*args: str) -> dict[str, object]:
        result = run_cli(*args, "-c", cfg, "--output", "json", env=OFFLINE_ENV)
        assert result.returncode == 0, (args, result.stderr)
        parsed: dict[str, object] = json.loads(result.stdout)
        return parsed

    links = document("links", "list", "--limit", "2")
    assert (links["total"], links["shown"]) == (3, 2)
    assert links["links"] == [  # type: ignore[comparison-overlap]
        {"ticket_id": f"tkt_000{i}", "connector": "jira", "state": "creating", "external_id": None,
         "external_key": None, "external_url": None, "synced_at": None, "last_error": None} for i in (0, 1)]
    events = document("events", "list")
    assert (events["total"], events["shown"]) == (2, 2)
    assert [e["event_id"] for e in events["events"]] == ["evt_1", "evt_0"]  # type: ignore[attr-defined]
    status = document("status")
    assert status["links"] == {"jira": {"creating": 3, "synced": 0, "gone": 0}}
    assert status["inbox"] == {"pending": 2} and status["runs"] == []
    assert document("routes", "test", "priority=critical") == {
        "ticket": {"priority": "critical"}, "routes": [{"index": 0, "matched": True, "connectors": ["jira"]}],
        "connectors": ["jira"]}
    check = document("check-config")
    assert check["connectors"] == [{"name": "jira", "type": "jira", "routes": ["route 0"]}]
    assert check["routes"] == [{"index": 0, "match": {"priority": ["critical"]}, "connectors": ["jira"]}]
    assert check["checks"] is None


def test_dry_run_prints_its_summary_before_the_plan(tmp_path: Path) -> None:
    with world(tmp_path, generate_tickets(6, seed=20), ("jira",)) as w:
        result = run_cli("run-once", "-c", str(w.cfg), "--dry-run", env=ENV)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = result.stdout.index("6 ticket(s) in ")
    plan = result.stdout.index("plan (dry run: nothing was written)")
    assert summary < plan


# -- 8. help and global options -------------------------------------------------------------------

PLACEHOLDER = re.compile(r"<[a-z][a-z_\[\], ]*>")  # Typer's `<int range>`, `<list[str]>`, `<path>`


def test_help_names_every_sandbox_and_shows_no_type_placeholders() -> None:
    sandbox = run_cli("sandbox", "--help")
    assert sandbox.returncode == 0
    assert "cogny, jira, slack, linear or asana" in " ".join(sandbox.stdout.split())
    for command in ((), ("init",), ("run-once",), ("events", "retry"), ("links", "list"), ("routes", "test"),
                    ("render",), ("demo",)):
        shown = run_cli(*command, "--help")
        assert shown.returncode == 0, command
        assert PLACEHOLDER.findall(shown.stdout) == [], (command, shown.stdout)


def test_log_level_is_accepted_after_the_command(tmp_path: Path) -> None:
    cfg = str(offline_config(tmp_path))
    after = run_cli("status", "-c", cfg, "--log-level", "debug", env=OFFLINE_ENV)
    assert after.returncode == 0, after.stderr
    assert "last runs: none yet" in after.stdout  # not a header-only box
    both = run_cli("--log-level", "info", "links", "list", "--log-level=warning", "-c", cfg, env=OFFLINE_ENV)
    assert both.returncode == 0 and both.stdout == "no links\n", both.stderr
    bad = run_cli("status", "-c", cfg, "--log-level", "loud", env=OFFLINE_ENV)
    assert bad.returncode == 2 and "--log-level" in bad.stderr


def test_render_shows_the_requests_and_the_internal_view_on_request(tmp_path: Path) -> None:
    cfg = str(offline_config(tmp_path))
    ticket = generate_tickets(1, seed=3)[0]
    (tmp_path / "t.json").write_text(json.dumps(ticket))
    internal = run_cli("render", ticket["id"], "-c", cfg, "--file", str(tmp_path / "t.json"), "--internal",
                       env=OFFLINE_ENV)
    assert internal.returncode == 0, internal.stderr
    jira = json.loads(internal.stdout)["connectors"]["jira"]
    assert set(jira) == {"type", "record", "items", "hash"} and len(jira["hash"]) == 64
    shown = run_cli("render", ticket["id"], "-c", cfg, "--file", str(tmp_path / "t.json"), env=OFFLINE_ENV)
    assert shown.returncode == 0, shown.stderr
    assert "hash" not in json.loads(shown.stdout)["connectors"]["jira"]


# -- 9. syncd init ------------------------------------------------------------------------------------

def run_on_a_terminal(args: list[str], answers: list[str], cwd: Path, env: dict[str, str],
                      timeout: float = 60) -> tuple[int, str]:
    """Run `syncd *args` with a pseudo-terminal as stdin and stdout; type `answers` one per prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "syncd", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=cwd, env={**os.environ, **env}, close_fds=True)
    os.close(slave)
    text, pending = "", list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                text += chunk
                if pending and text.rstrip().endswith(":"):
                    os.write(master, (pending.pop(0) + "\n").encode())
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        os.close(master)
    return code, text.replace("\r\n", "\n")


def test_init_prompts_with_examples_asks_again_after_a_typo_and_says_what_it_skipped(tmp_path: Path) -> None:
    unset = {name: "" for name in ("COGNY_API_KEY", "COGNY_WEBHOOK_SECRET", "JIRA_EMAIL", "JIRA_API_TOKEN")}
    code, text = run_on_a_terminal(["init"], ["jira, slak", "jira", "https://acme.atlassian.net", "GROWTH"],
                                   tmp_path, unset)
    assert code == 0, text
    assert "unknown target slak: choose from jira, slack, linear, asana" in text
    assert "JIRA base URL (e.g. https://acme.atlassian.net):" in text
    assert "JIRA project key (e.g. GROWTH):" in text
    assert ("not checked yet: COGNY_API_KEY, COGNY_WEBHOOK_SECRET, JIRA_EMAIL, JIRA_API_TOKEN are not set"
            in text)
    written = yaml.safe_load((tmp_path / "syncd.yaml").read_text())
    assert written["connectors"]["jira"]["url"] == "https://acme.atlassian.net"
    assert written["connectors"]["jira"]["project"] == "GROWTH"


def test_init_without_a_terminal_still_exits_2_on_an_unknown_connector(tmp_path: Path) -> None:
    result = run_cli("init", "--connector", "slak", cwd=tmp_path)
    assert result.returncode == 2
    assert one_line(result) == "syncd: --connector: unknown slak (choose from jira, slack, linear, asana)"
    assert not (tmp_path / "syncd.yaml").exists()


# -- 12. syncd demo -----------------------------------------------------------------------------------

def demo_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("syncd-demo-*"))


def test_demo_removes_its_temp_folder_unless_asked_to_keep_it(tmp_path: Path) -> None:
    env = {"TMPDIR": str(tmp_path)}
    plain = run_cli("demo", "--tickets", "2", env=env, timeout=120)
    assert plain.returncode == 0, plain.stdout[-2000:] + plain.stderr[-2000:]
    assert demo_dirs(tmp_path) == []

    kept = run_cli("demo", "--tickets", "2", "--keep", env=env, timeout=120)
    assert kept.returncode == 0, kept.stdout[-2000:] + kept.stderr[-2000:]
    [folder] = demo_dirs(tmp_path)
    assert f"kept: {folder}" in kept.stdout
    config = yaml.safe_load((folder / "syncd.yaml").read_text())
    assert config["webhook"]["port"] > 0  # a port `syncd run` can listen on, where the sandboxes post


def test_a_demo_stopped_by_sigterm_removes_its_temp_folder_too(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "demo", "--tickets", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        wait_for(lambda: demo_dirs(tmp_path), timeout=60, interval=0.05, what="the demo's temp folder")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode in (0, 143), stderr[-2000:]  # 0: it had finished before the signal came
    assert demo_dirs(tmp_path) == []


def test_demo_serve_prints_a_config_with_a_real_port_and_the_command_that_runs(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "demo", "--tickets", "2", "--serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "300"})
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("daemon: "):
                break
        daemon = next(ln for ln in lines if ln.startswith("daemon: "))
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    # `python -m syncd` ran it: the hint names that, not a `syncd` the shell may not find
    assert daemon.startswith(f"daemon: {sys.executable} -m syncd run -c "), daemon
    path = Path(daemon.split(" run -c ", 1)[1].split()[0])
    assert yaml.safe_load(path.read_text())["webhook"]["port"] > 0
    assert f"kept: {path.parent}" in rest
