"""What every benchmark script shares: machine facts, configs, CLI runs, percentiles, RSS."""

from __future__ import annotations

import os
import platform
import resource
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

ROOT = Path(__file__).resolve().parents[2]
COGNY_KEY = "sk_test_sandbox"
JIRA_USER, JIRA_TOKEN = "bot@example.com", "jira-token"
WEBHOOK_SECRET = "whsec_bench_secret_0123456789"
ENV = {"COGNY_API_KEY": COGNY_KEY, "JIRA_TOKEN": JIRA_TOKEN}


# -- machine and reproduction ---------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def header(title: str, argv: Sequence[str] | None = None) -> None:
    """Print what ran, where, and the command that reproduces it."""
    argv = list(sys.argv if argv is None else argv)
    script = os.path.relpath(os.path.abspath(argv[0]), ROOT)
    print(f"== {title}")
    print(f"reproduce: {shlex.join([_python_name(), script, *argv[1:]])}   (from {ROOT})")
    print(f"machine:   {os.cpu_count()} cpu ({cpu_model()}), {ram_gib():.1f} GiB RAM, "
          f"Python {platform.python_version()}, {platform.system()} {platform.release()}")
    print(f"load:      {load()} (1/5/15 min) at start, {time.strftime('%Y-%m-%d %H:%M:%S')}")
    sys.stdout.flush()


def footer() -> None:
    print(f"load:      {load()} (1/5/15 min) at end")
    sys.stdout.flush()


def _python_name() -> str:
    exe = sys.executable
    return (
        exe
        if exe.startswith("/tmp/venv")
        else os.path.relpath(exe, ROOT)
        if exe.startswith(str(ROOT))
        else exe
    )


def line(label: str, value: str, target: str | None = None, ok: bool | None = None) -> None:
    """One figure; the target is reported beside it, never asserted."""
    extra = ""
    if target is not None:
        verdict = "" if ok is None else (" MET" if ok else " MISSED")
        extra = f"   target {target}{verdict}"
    print(f"  {label:<44} {value}{extra}")
    sys.stdout.flush()


# -- numbers ----------------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def rss_mib(pid: int) -> float:
    """Resident set size (VmRSS) of a process, MiB."""
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """user+system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- syncd config and CLI -----------------------------------------------------------------------------
def write_config(path: Path, cogny_url: str, jira_url: str, *, concurrency: int = 4,
                 extra: dict[str, Any] | None = None) -> Path:
    """A syncd.yaml for the sandboxes: one JIRA connector, SQLite store beside the file."""
    doc: dict[str, Any] = {
        "cogny": {"base_url": f"{cogny_url}/v1", "api_key": "${COGNY_API_KEY}",
                  "filters": {"status": ["open", "in_progress"]}},
        "store": {"url": f"sqlite:///{path.parent / 'syncd.db'}"},
        "sync": {"concurrency": concurrency},
        "connectors": {"jira": {"type": "jira", "url": jira_url, "email": JIRA_USER,
                                "api_token": "${JIRA_TOKEN}", "project": "GROWTH"}},
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict):
            doc.setdefault(key, {}).update(value)
        else:
            doc[key] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def compile_bytecode() -> str:
    """Write syncd's bytecode, as `pip install` does, so a timed run does not compile its modules.

    An editable install compiles on first import, unless PYTHONDONTWRITEBYTECODE is set (it is on
    some CI machines, this one included): then every run would recompile the modules it imports.
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "syncd"), str(ROOT / "connectors")],
                   check=True, timeout=120)
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    return "syncd's bytecode compiled first (as pip install does)" + \
        (f"; PYTHONDONTWRITEBYTECODE={flag} here" if flag else "")


def syncd_cmd(*args: str, python_flags: Sequence[str] = ()) -> list[str]:
    return [sys.executable, *python_flags, "-m", "syncd", "--log-level", "warning", *args]


@dataclass
class Run:
    """One finished CLI process: its result, wall seconds and CPU seconds (user + system)."""

    result: subprocess.CompletedProcess[str]
    wall: float
    cpu: float
    started_at: float = 0.0  # time.time() when the process was started

    @property
    def ok(self) -> bool:
        return self.result.returncode == 0

    def tail(self, n: int = 1500) -> str:
        return (self.result.stdout[-n:] + "\n" + self.result.stderr[-n:]).strip()


def run_syncd(*args: str, timeout: float = 180, python_flags: Sequence[str] = ()) -> Run:
    """Run the real CLI as a subprocess (start-up included, as cron runs it)."""
    env = {**os.environ, **ENV, "PYTHONUNBUFFERED": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_at = time.time()
    started = time.perf_counter()
    result = subprocess.run(syncd_cmd(*args, python_flags=python_flags), capture_output=True, text=True,
                            timeout=timeout, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(result, wall, cpu, started_at)


def store_rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    """Read the SQLite store directly (read-only), e.g. counts of links or runs."""
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return conn.execute(query).fetchall()
        except sqlite3.OperationalError:
            return []


def importtime(args: Sequence[str], top: int = 12) -> dict[str, Any]:
    """`python -X importtime ARGS`, summarised.

    Returns {"total": seconds of all imports, "own": [(package, own s)], "roots": [(package, cumulative s,
    first importer)]}: a package's "cumulative" is the time of its outermost import (its own
    dependencies included), the importer is the module that pulled it in — what to make lazy.
    """
    env = {**os.environ, **ENV}
    result = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True,
                            timeout=180, env=env, cwd=ROOT)
    rows: list[tuple[str, int, int, int]] = []  # name, self us, cumulative us, depth
    for row in result.stderr.splitlines():
        if not row.startswith("import time:") or "imported package" in row:
            continue
        parts = row[len("import time:"):].split("|")
        try:
            self_us, cum_us, raw = int(parts[0]), int(parts[1]), parts[2]
        except (ValueError, IndexError):
            continue
        rows.append((raw.strip(), self_us, cum_us, (len(raw) - len(raw.lstrip(" ")) - 1) // 2))
    own: dict[str, float] = {}
    roots: dict[str, tuple[float, str]] = {}
    for i, (name, self_us, cum_us, depth) in enumerate(rows):
        pkg = name.split(".")[0]
        own[pkg] = own.get(pkg, 0.0) + self_us / 1e6
        parent = next((r[0] for r in rows[i + 1:] if r[3] < depth), None)  # children print before parents
        if parent is None or parent.split(".")[0] != pkg:
            seconds, importer = roots.get(pkg, (0.0, ""))
            roots[pkg] = (
                seconds + cum_us / 1e6,
                importer or (parent or "(start-up or an import inside a function)"),
            )
    return {
        "total": sum(r[1] for r in rows) / 1e6,
        "own": sorted(own.items(), key=lambda kv: -kv[1])[:top],
        "roots": sorted(((k, s, imp) for k, (s, imp) in roots.items()), key=lambda r: -r[1])[:top],
        "returncode": result.returncode,
    }
