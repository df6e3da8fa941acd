"""In-process Cogny: growth tickets, paging, rate limits and signed webhooks, as its API reference says."""

from syncd.sandbox.cogny.sandbox import CognySandbox

__all__ = ["CognySandbox"]
