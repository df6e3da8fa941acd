"""Secrets stay secret (docs/design.md invariant 5), on every path, including the error paths.

Distinctive secrets (every one contains `SECRET`) are configured through `${VAR}`, the sandboxes
accept them, and then syncd is driven through good runs, 500s, 429s, 401s (wrong tokens), config
errors, `check-config --connect`, and a daemon that receives webhooks. No secret — nor its base64
or basic-auth form — may show up in stdout, stderr (JSON and console logs, at debug level),
`/metrics`, `/readyz`, `status`, `events list`, `links list`, or any table of the SQLite store.
"""

from __future__ import annotations

import base64
import json
import signal
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import httpx
import pytest

from syncd.sandbox._common.tickets import generate_tickets
from tests.support.daemon import Daemon, daemon_config, event
from tests.support.process import free_port, run_cli, wait_for
from tests.support.world import FAST_RETRIES, world

pytestmark = [pytest.mark.e2e]

JIRA_USER = "bot@example.com"
GOOD = {
    "COGNY_API_KEY": "sk_test_SECRET_cogny_7Qx2",
    "JIRA_API_TOKEN": "jira-SECRET-token-4b2c8",
    "SLACK_BOT_TOKEN": "xoxb-SECRET-slack-91d3",
    "LINEAR_API_KEY": "lin_api_SECRET_linear_55e",
    "ASANA_TOKEN": "asana-SECRET-pat-a11f",
    "WEBHOOK_KEY": "whsec_SECRET_hook_3c1",
    "WEBHOOK_OLD_KEY": "whsec_SECRET_old_77",
}
WRONG = {  # accepted nowhere: every call answers 401 / invalid_auth
    "COGNY_API_KEY": "sk_test_SECRET_wrong_cogny_1",
    "JIRA_API_TOKEN": "jira-SECRET-wrong-2",
    "SLACK_BOT_TOKEN": "xoxb-SECRET-wrong-3",
    "LINEAR_API_KEY": "lin_api_SECRET_wrong_4",
    "ASANA_TOKEN": "asana-SECRET-wrong-5",
    "WEBHOOK_KEY": "whsec_SECRET_wrong_6",
    "WEBHOOK_OLD_KEY": "whsec_SECRET_wrong_7",
}


def forms(values: dict[str, str]) -> list[str]:
    """Every way a secret could leak: as is, base64, and JIRA's basic-auth header value."""
    out = []
    for name, value in values.items():
        out += [value, base64.b64encode(value.encode()).decode().rstrip("="),
                value[len(value) // 2:]]  # a partial leak (e.g. a cut-off or mis-masked value)
        if name == "JIRA_API_TOKEN":
            out.append(base64.b64encode(f"{JIRA_USER}:{value}".encode()).decode().rstrip("="))
    return out


FORMS = forms(GOOD) + forms(WRONG)


def assert_clean(where: str, text: str, extra: list[str] | None = None) -> None:
    at = text.find("SECRET")
    assert at < 0, f"{where}: {text[max(0, at - 200):at + 100]!r}"
    for form in FORMS + (extra or []):
        assert form not in text, f"{where}: leaks {form!r}"


def dump_store(db: Path) -> str:
    """Every row of every table, as SQL text."""
    with sqlite3.connect(db) as conn:
        return "\n".join(conn.iterdump())


@pytest.fixture
def w(tmp_path: Path) -> Iterator[SimpleNamespace]:
    tickets = generate_tickets(8, seed=77)
    for t in tickets[:2]:
        t["priority"] = "critical"  # Slack gets these two (routes): few posts, Slack paces ~1/s
    for t in tickets[2:]:
        t["priority"] = "medium"
    connector_kw = {
        "jira": {"api_token": "${JIRA_API_TOKEN}", "email": JIRA_USER},
        "slack": {"token": "${SLACK_BOT_TOKEN}"},
        "linear": {"api_key": "${LINEAR_API_KEY}"},
        "asana": {"token": "${ASANA_TOKEN}"},
    }
    sandbox_kw = {
        "cogny": {"api_keys": {GOOD["COGNY_API_KEY"]: "standard"}},
        "jira": {"users": {JIRA_USER: GOOD["JIRA_API_TOKEN"]}},
        "slack": {"tokens": {GOOD["SLACK_BOT_TOKEN"]}},
        "linear": {"api_keys": {GOOD["LINEAR_API_KEY"]}},
        "asana": {"tokens": {GOOD["ASANA_TOKEN"]}},
    }
    routes = [{"connectors": ["jira", "linear", "asana"]},
              {"match": {"priority": ["critical"]}, "connectors": ["slack"]}]
    port = free_port()
    extra = {"sync": FAST_RETRIES, "webhook": {"host": "127.0.0.1", "port": port, "secret": "${WEBHOOK_KEY}",
                                               "secrets": ["${WEBHOOK_OLD_KEY}"]}}
    with world(tmp_path, tickets, ("jira", "slack", "linear", "asana"), routes=routes, extra=extra,
               sandbox_kw=sandbox_kw, connector_kw=connector_kw) as env:
        text = env.cfg.read_text()
        assert "SECRET" not in text  # the file itself only names variables
        env.port = port
        env.db = tmp_path / "syncd.db"
        env.outputs = {}
        yield env


def cli(env: SimpleNamespace, label: str, *args: str, secrets: dict[str, str] = GOOD,
        log: tuple[str, ...] = ("--log-level", "debug")) -> Any:
    result = run_cli(*log, *args, env=secrets, timeout=120)
    env.outputs[f"{label} stdout"] = result.stdout
    env.outputs[f"{label} stderr"] = result.stderr
    return result


def check_all(env: SimpleNamespace, extra: list[str] | None = None) -> None:
    for where, text in env.outputs.items():
        assert_clean(where, text, extra)
    if env.db.exists():
        assert_clean("store", dump_store(env.db), extra)


def test_run_once_through_500s_429s_and_401s_leaks_nothing(w: SimpleNamespace) -> None:
    c = str(w.cfg)
    services = {"cogny": w.cogny, **w.targets}
    for i, sb in enumerate(services.values()):  # 500s and 429s everywhere, some creates fail
        sb.faults.set(error_rate=0.15, throttle_rate=0.05, retry_after=0, seed=500 + i)
    first = cli(w, "run-once json", "run-once", "-c", c)
    assert first.returncode in (0, 1), first.stderr[-2000:]
    assert sum(sb.faults.injected["error"] for sb in services.values()) > 0
    for sb in services.values():
        sb.faults.clear()
    w.jira.faults.set(fail_next=2, fail_status=503)
    w.linear.faults.set(fail_next=2, fail_status=502)
    second = cli(w, "run-once console", "run-once", "-c", c, log=("--log-level", "debug", "--log-console"))
    assert second.returncode in (0, 1), second.stderr[-2000:]
    settle = cli(w, "run-once settle", "run-once", "-c", c)
    assert settle.returncode == 0, settle.stdout[-2000:]

    # Wrong tokens everywhere: 401 / invalid_auth on every call, listing fails, the run is recorded.
    with_wrong = {**WRONG, "COGNY_API_KEY": GOOD["COGNY_API_KEY"]}
    w.cogny.edit_ticket(next(iter(w.cogny.tickets)), title="Changed so every target is called")
    rejected = cli(w, "run-once wrong targets", "run-once", "-c", c, secrets=with_wrong)
    assert rejected.returncode == 1
    out = rejected.stdout
    assert "401" in out or "invalid_auth" in out or "authenticat" in out.lower(), out[-2000:]
    no_cogny = cli(w, "run-once wrong cogny", "run-once", "-c", c, secrets=WRONG)
    assert no_cogny.returncode == 3 and "401" in no_cogny.stdout + no_cogny.stderr  # 3: the listing failed

    for label, secrets in (("connect good", GOOD), ("connect wrong", WRONG)):
        result = cli(w, label, "check-config", "-c", c, "--connect", secrets=secrets)
        assert result.returncode == (0 if secrets is GOOD else 1), result.stdout[-2000:]
    assert "FAIL" in w.outputs["connect wrong stdout"]
    for label, args in (("check-config", ("check-config", "-c", c)), ("status", ("status", "-c", c)),
                        ("links", ("links", "list", "-c", c)), ("events", ("events", "list", "-c", c)),
                        ("dry-run", ("run-once", "--dry-run", "-c", c)),
                        ("routes", ("routes", "test", "-c", c, "priority=critical"))):
        assert cli(w, label, *args).returncode == 0, w.outputs[f"{label} stderr"][-2000:]
    check_all(w)


def test_config_errors_leak_nothing(w: SimpleNamespace) -> None:
    good = w.cfg.read_text()
    broken = good.replace("sync:", "colour: blue\nsync:").replace("${ASANA_TOKEN}", "${ASANA_TOKEN_UNSET}")
    w.cfg.write_text(broken)
    for command in (("check-config",), ("run-once",), ("run",), ("status",)):
        result = cli(w, f"config error {command[0]}", *command, "-c", str(w.cfg))
        assert result.returncode == 2 and "colour: unknown key" in result.stderr, result.stderr
    # A token of the wrong shape in a secret field is reported by key, never echoed.
    w.cfg.write_text(good)
    result = cli(w, "wrong shape", "check-config", "-c", str(w.cfg),
                 secrets={**GOOD, "SLACK_BOT_TOKEN": "SECRET-not-a-slack-token"})
    assert result.returncode == 2 and "connectors.slack.token" in result.stderr
    check_all(w)




@pytest.mark.parametrize("field, var", [
    pytest.param("url", "JIRA_API_TOKEN", id="jira url"),
    pytest.param("workspace_gid", "ASANA_TOKEN", id="asana workspace_gid"),
])
def test_swapped_variables_do_not_print_the_token(w: SimpleNamespace, field: str, var: str) -> None:
    """Two variables swapped by mistake put a token in a field that is not secret, where it is invalid."""
    import yaml

    doc = yaml.safe_load(w.cfg.read_text())
    target = "jira" if var == "JIRA_API_TOKEN" else "asana"
    doc["connectors"][target][field] = "${%s}" % var
    w.cfg.write_text(yaml.safe_dump(doc))
    result = cli(w, "swapped", "check-config", "-c", str(w.cfg))
    assert result.returncode == 2 and f"connectors.{target}.{field}" in result.stderr, result.stderr
    check_all(w)


def test_store_password_never_printed(w: SimpleNamespace) -> None:
    """A PostgreSQL password in store.url (from ${PGPASSWORD}) stays hidden when the store is unreachable."""
    closed = free_port()
    url = f"postgresql+psycopg://syncd:${{PGPASSWORD}}@127.0.0.1:{closed}/syncd"
    w.cfg.write_text(w.cfg.read_text().replace(f"sqlite:///{w.db}", url))
    secrets = {**GOOD, "PGPASSWORD": "pg-SECRET-password-9z"}
    for command in (("run-once",), ("status",), ("events", "list"), ("links", "list"), ("db", "upgrade"),
                    ("run",)):
        result = cli(w, f"store {command[0]}", *command, "-c", str(w.cfg), secrets=secrets)
        assert result.returncode in (1, 2), (command, result.stdout[-500:], result.stderr[-1500:])
        assert f"127.0.0.1:{closed}" in result.stdout + result.stderr, (command, result.stderr[-1500:])
    check_all(w, forms({"PGPASSWORD": secrets["PGPASSWORD"]}))


def test_daemon_leaks_nothing_in_logs_metrics_status_and_store(w: SimpleNamespace) -> None:
    cfg = daemon_config(w, w.port, webhook={"secret": "${WEBHOOK_KEY}", "secrets": ["${WEBHOOK_OLD_KEY}"]})
    d = Daemon(cfg, w.port, w.tmp / "daemon.log", env=GOOD, args=("--log-level", "debug"))
    d.start()
    try:
        wait_for(lambda: len(w.jira.issues) > 0, timeout=30, what="first poll")  # the first poll at start
        tid = next(iter(w.cogny.tickets))
        for secret, eid in ((GOOD["WEBHOOK_KEY"], "evt_s1"), (GOOD["WEBHOOK_OLD_KEY"], "evt_s2")):
            assert d.send(event(tid, eid, "ticket.updated"), secret=secret).status_code == 202
        assert d.send(event(tid, "evt_bad"), secret="whsec_SECRET_forged").status_code == 401
        # Error paths inside the worker: targets refuse the tokens (401) and fail (500).
        with w.jira.lock:
            w.jira.users = {JIRA_USER: "rotated-elsewhere"}
        w.asana.faults.set(error_rate=1.0)
        w.cogny.edit_ticket(tid, title="Edited: every target must be updated")
        assert d.send(event(tid, "evt_fail", "ticket.updated"), secret=GOOD["WEBHOOK_KEY"]).status_code == 202
        dead_or_retrying = lambda: any(  # noqa: E731
            "evt_fail" in line and ("pending" in line or "dead" in line)
            for line in run_cli("events", "list", "-c", str(cfg), env=GOOD).stdout.splitlines())
        wait_for(dead_or_retrying, timeout=30, interval=0.5, what="the failing event recorded")
        for path in ("/readyz", "/healthz"):
            w.outputs[f"daemon {path}"] = httpx.get(f"{d.url}{path}", timeout=5).text
        # the admin listener: /metrics and every console page (issue 19: no secret on any page)
        for path in ("/metrics", "/", "/config", "/events", "/events?state=pending", "/runs", "/runs/1",
                     "/tickets", f"/tickets/{tid}"):
            w.outputs[f"daemon {path}"] = httpx.get(f"{d.admin_url}{path}", timeout=5).text
        assert "syncd_external_calls_total" in w.outputs["daemon /metrics"]
        for label, args in (("status", ("status",)), ("events", ("events", "list")),
                            ("events pending", ("events", "list", "--state", "pending")),
                            ("links", ("links", "list"))):
            result = cli(w, f"daemon {label}", *args, "-c", str(cfg))
            assert result.returncode == 0, result.stderr[-2000:]
        assert "evt_fail" in w.outputs["daemon events stdout"]
        assert d.proc is not None
        d.proc.send_signal(signal.SIGHUP)  # a reload re-reads the secrets from the environment
        wait_for(lambda: "config reloaded" in d.log.read_text(), timeout=15, what="reload")
    finally:
        code = d.stop(signal.SIGTERM)
    assert code == 0
    w.outputs["daemon log"] = d.log.read_text()
    assert "401" in w.outputs["daemon log"] or "authenticat" in w.outputs["daemon log"].lower()
    with w.jira.lock:
        w.jira.users = {JIRA_USER: GOOD["JIRA_API_TOKEN"]}
    check_all(w)
    store = dump_store(w.db)
    assert "evt_fail" in store and "INSERT INTO \"links\"" in store  # the dump really holds the rows
    assert json.dumps(GOOD) not in store
