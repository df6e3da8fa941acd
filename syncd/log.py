"""structlog set-up: one pipeline of processors; secrets redacted before a line is rendered.

Context (ticket_id, connector, event_id) is bound with `structlog.contextvars` once and
carried by every line logged below it. JSON lines when stderr is not a terminal (systemd,
Kubernetes, CI); coloured key=value lines when a person is watching.

Values are redacted before rendering, never the rendered line: a JSON line stays valid JSON
whatever a ticket or a caller put in it (json.dumps escapes control characters). Console lines
show control characters as escapes (`syncd.terminal.printable`), so ticket text cannot drive the
operator's terminal or forge a line.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from syncd.redact import redact, redact_value
from syncd.terminal import printable

LEVELS = ("debug", "info", "warning", "error")


def _redact_event(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: redact_value(v) for k, v in event_dict.items()}


def _printable_event(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Console only: strings shown with control characters escaped."""
    return {k: printable(v) if isinstance(v, str) else v for k, v in event_dict.items()}


class _Stderr:
    """Whatever `sys.stderr` is at the time of each write: a progress bar on the terminal swaps it
    for a proxy that prints above the bar, so log lines never tear the bar apart."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure(level: str = "info", *, json: bool | None = None, stream: Any = None) -> None:
    """Configure structlog (and the stdlib loggers of our libraries) for this process."""
    stream = stream or _Stderr()
    if json is None:
        json = not (hasattr(stream, "isatty") and stream.isatty())
    numeric = getattr(logging, level.upper(), logging.INFO)
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=True))
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info if json else structlog.dev.set_exc_info,
        _redact_event,
        *(() if json else (_printable_event,)),
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Third-party libraries log through the stdlib; keep them quiet unless debugging, and
    # never let them print a request with an Authorization header at DEBUG.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=stream,
                        format="%(levelname)s %(name)s %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3", "jira", "slack_sdk", "apscheduler", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(_StdlibRedactFilter())


class _StdlibRedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = printable(redact(record.getMessage()))
        record.args = ()
        return True


def get_logger(**context: Any) -> Any:
    return structlog.get_logger("syncd").bind(**context)
