"""The operator's console: server-rendered pages on the admin listener (`admin.host:admin.port`).

`syncd run` serves it with /metrics and /-/reload; nothing but the daemon and the CLI imports it.
"""

from syncd.console.access import Credentials, Csrf
from syncd.console.app import Console, Sources

__all__ = ["Console", "Credentials", "Csrf", "Sources"]
