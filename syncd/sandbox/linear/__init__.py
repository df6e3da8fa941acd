"""In-process Linear: GraphQL validated against the published schema; issues, attachments and webhooks."""

from syncd.sandbox.linear.sandbox import LinearSandbox

__all__ = ["LinearSandbox"]
