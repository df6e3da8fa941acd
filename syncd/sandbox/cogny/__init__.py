"""In-process Cogny: growth tickets, paging, rate limits and signed webhooks, as the API reference documents."""

from syncd.sandbox.cogny.sandbox import CognySandbox

__all__ = ["CognySandbox"]
