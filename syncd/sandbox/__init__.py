"""In-process stand-ins of Cogny, JIRA, Slack, Linear and Asana.

Used by `syncd demo` and the tests, like procrastinate's `testing.py`: each one is a real
HTTP server on 127.0.0.1 that accepts only what the real service accepts, and records every
request so a test can assert on what syncd sent.
"""

from syncd.http.server import ServerThread
from syncd.sandbox._common.base import Faults, Recorded, RequestLog, Sandbox

__all__ = ["Faults", "Recorded", "RequestLog", "Sandbox", "ServerThread"]
