"""In-process Asana: tasks, subtasks, custom fields and webhooks, bodies checked against the OpenAPI spec."""

from syncd.sandbox.asana.sandbox import AsanaSandbox

__all__ = ["AsanaSandbox"]
