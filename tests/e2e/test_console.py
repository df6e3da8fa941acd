"""The console on a real `syncd run` (issue 19) and the start-up promises of issue 20 (points 10, 11).

Every `admin.*` key is set here in a config the real CLI runs with: admin.host, admin.port,
admin.actions, admin.auth.type, admin.auth.token_env, admin.auth.username, admin.auth.password_env.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import yaml

from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from tests.support.config import ENV, jira_settings, write_config
from tests.support.daemon import SECRET, Daemon, event
from tests.support.process import free_port, run_cli, wait_for

PASSWORD = "console-password-for-e2e-tests"
TOKEN = "console-token-for-e2e-tests-0123"
AUTH_ENV = {**ENV, "SYNCD_CONSOLE_PASSWORD": PASSWORD, "SYNCD_ADMIN_TOKEN": TOKEN}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def sandboxes() -> Iterator[tuple[CognySandbox, JiraSandbox]]:
    with CognySandbox(generate_tickets(3, seed=19)) as cogny, JiraSandbox() as jira:
        yield cogny, jira


def config(tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox, port: int, admin: dict[str, object],
           webhook: dict[str, object] | None = None) -> Path:
    return write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)}, extra={
        "webhook": webhook or {"host": "127.0.0.1", "port": port, "secret": SECRET},
        "schedule": {"interval_seconds": 3600}, "admin": admin})


def log_lines(d: Daemon) -> list[dict[str, object]]:
    out = []
    for line in d.log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


@pytest.mark.config_keys("admin.host", "admin.port", "admin.actions", "admin.auth.type",
                         "admin.auth.token_env", "admin.auth.username", "admin.auth.password_env")
def test_check_config_accepts_every_admin_key_and_names_the_unset_variable(
        tmp_path: Path, sandboxes: tuple[CognySandbox, JiraSandbox]) -> None:
    cogny, jira = sandboxes
    basic_auth = {"host": "127.0.0.1", "port": free_port(), "actions": True,
                  "auth": {"type": "basic", "username": "ops", "password_env": "SYNCD_CONSOLE_PASSWORD"}}
    cfg = config(tmp_path, cogny, jira, free_port(), basic_auth)
    ok = run_cli("check-config", "-c", str(cfg), env=AUTH_ENV)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert PASSWORD not in ok.stdout + ok.stderr
    unset = run_cli("check-config", "-c", str(cfg), env=ENV)
    assert unset.returncode == 2
    assert "admin.auth.password_env: environment variable SYNCD_CONSOLE_PASSWORD is not set" in unset.stderr
    bearer = {"port": free_port(), "auth": {"type": "bearer", "token_env": "SYNCD_ADMIN_TOKEN"}}
    cfg = config(tmp_path, cogny, jira, free_port(), bearer)
    assert run_cli("check-config", "-c", str(cfg), env=AUTH_ENV).returncode == 0
    same = config(tmp_path, cogny, jira, 18099, {"port": 18099})
    refused = run_cli("check-config", "-c", str(same), env=ENV)
    assert refused.returncode == 2 and "admin.port: 18099 is webhook.port too" in refused.stderr


@pytest.mark.config_keys("admin.host", "admin.port", "admin.actions", "admin.auth.type",
                         "admin.auth.username", "admin.auth.password_env")
def test_daemon_serves_the_console_on_the_admin_port_only_behind_auth(
        tmp_path: Path, sandboxes: tuple[CognySandbox, JiraSandbox]) -> None:
    cogny, jira = sandboxes
    port = free_port()
    admin = {"host": "127.0.0.1", "port": free_port(), "actions": True,
             "auth": {"type": "basic", "username": "ops", "password_env": "SYNCD_CONSOLE_PASSWORD"}}
    cfg = config(tmp_path, cogny, jira, port, admin)
    d = Daemon(cfg, port, tmp_path / "daemon.log", env=AUTH_ENV).start()
    try:
        ops = basic("ops", PASSWORD)
        wait_for(lambda: "syncd_cycle_duration_seconds_count 1.0" in
                 httpx.get(f"{d.admin_url}/metrics", headers=ops, timeout=5).text, what="the first cycle")
        for path in ("/", "/metrics", "/tickets", "/events"):
            assert httpx.get(f"{d.admin_url}{path}", timeout=5).status_code == 401, path
            assert httpx.get(f"{d.url}{path}", timeout=5).status_code == 404, path  # never the webhook port
        overview = httpx.get(f"{d.admin_url}/", headers=ops, timeout=5)
        assert overview.status_code == 200 and "<td>jira</td>" in overview.text
        assert "leader" in overview.text  # this daemon's heartbeat: it leads the schedule
        status = run_cli("status", "-c", str(cfg), env=AUTH_ENV)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "daemon: running on" in status.stdout and "next poll 20" in status.stdout
        [line] = [ln for ln in log_lines(d) if ln.get("event") == "syncd running"]
        assert line["console"] == f"{d.admin_url}/" and line["metrics"] == f"{d.admin_url}/metrics"
        assert line["probes"] == [f"{d.url}/healthz", f"{d.url}/readyz"]
        assert line["webhooks"] == {"cogny": f"{d.url}/webhooks/cogny"}
        assert line["schedule"] == "every 3600s" and str(line["next_poll"]).startswith("20")
        assert line["workers"] == 2 and line["warnings"] == []
        # SIGHUP: the reload says which keys changed, never their values
        doc = yaml.safe_load(cfg.read_text())
        doc["schedule"]["interval_seconds"] = 1800
        doc["connectors"]["jira"]["api_token"] = "${JIRA_TOKEN}x"
        cfg.write_text(yaml.safe_dump(doc))
        assert d.proc is not None
        d.proc.send_signal(signal.SIGHUP)
        reloaded = wait_for(lambda: [ln for ln in log_lines(d) if ln.get("event") == "config reloaded"],
                            what="the reload")
        assert reloaded[0]["changed"] == ["connectors.jira.api_token", "schedule.interval_seconds"]
        assert ENV["JIRA_TOKEN"] not in d.log.read_text()
    finally:
        assert d.stop() == 0
    after = run_cli("status", "-c", str(cfg), env=AUTH_ENV)
    assert "daemon: none running on this store" in after.stdout


def test_without_a_webhook_secret_run_once_runs_and_the_daemon_says_its_receiver_is_off(
        tmp_path: Path, sandboxes: tuple[CognySandbox, JiraSandbox]) -> None:
    cogny, jira = sandboxes
    port = free_port()
    hook = {"host": "127.0.0.1", "port": port, "secret": "${COGNY_WEBHOOK_SECRET}"}
    cfg = config(tmp_path, cogny, jira, port, {"port": free_port()}, webhook=hook)
    once = run_cli("run-once", "-c", str(cfg), env=ENV)  # from cron: receives no webhooks, needs no secret
    assert once.returncode == 0, once.stdout + once.stderr
    d = Daemon(cfg, port, tmp_path / "daemon.log").start()
    try:
        [line] = wait_for(lambda: [ln for ln in log_lines(d) if ln.get("event") == "syncd running"])
        assert line["webhooks"] == {"cogny": "off (no webhook.secret)"}
        assert "webhook.secret: environment variable COGNY_WEBHOOK_SECRET is not set" in line["warnings"]
        refused = d.send(event("tkt_abc", 1))
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "RECEIVER_OFF"
        for i in range(20):  # a flood: every one counted, logged at most once per reason and 10 s
            d.post(b"{}", {"X-Cogny-Signature": "0" * 64})
        wait_for(lambda: any(ln.get("event") == "webhook delivery rejected" for ln in log_lines(d)))
        text = httpx.get(f"{d.admin_url}/metrics", timeout=5).text
        assert 'syncd_webhook_events_rejected_total{reason="receiver_off"} 21.0' in text
        rejected = [ln for ln in log_lines(d) if ln.get("event") == "webhook delivery rejected"]
        assert len(rejected) == 1 and rejected[0]["reason"] == "receiver_off"
    finally:
        d.stop()


def test_demo_serve_prints_the_console_url_that_syncd_run_then_serves(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "demo", "--tickets", "2", "--serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "300"})
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(ln.startswith("console: ") for ln in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        daemon_line = next(ln for ln in lines if ln.startswith("daemon: "))
        url = next(ln for ln in lines if ln.startswith("console: ")).split()[1]
        cfg = Path(daemon_line.split(" run -c ", 1)[1].split()[0])
        doc = yaml.safe_load(cfg.read_text())
        assert url == f"http://127.0.0.1:{doc['admin']['port']}/"
        d = Daemon(cfg, doc["webhook"]["port"], tmp_path / "daemon.log").start()
        try:
            page = wait_for(lambda: httpx.get(url, timeout=5), what="the console")
            assert page.status_code == 200 and "<td>jira</td>" in page.text
        finally:
            d.stop()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_admin_port_taken_is_one_line_naming_admin_port(
        tmp_path: Path, sandboxes: tuple[CognySandbox, JiraSandbox]) -> None:
    cogny, jira = sandboxes
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        cfg = config(tmp_path, cogny, jira, free_port(), {"host": "127.0.0.1", "port": busy})
        result = run_cli("run", "-c", str(cfg), env=ENV, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert line.startswith(f"syncd: admin.port: cannot listen on 127.0.0.1:{busy}"), line
