"""What `syncd render` shows for JIRA: the `issue/bulk` requests a create would send, built, not sent.

Field names are resolved to ids (the field list, the project's components are read); nothing is
written. A sub-task's parent is the issue the first request makes, shown by a placeholder key.
"""

from __future__ import annotations

from typing import Any

BULK = "/rest/api/2/issue/bulk"


def preview(issue: dict[str, Any], subtasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request creating the issue, then the one creating its sub-tasks (when it has some)."""
    requests = [{"method": "POST", "path": BULK, "body": {"issueUpdates": [{"fields": issue}]}}]
    if subtasks:
        body = {"issueUpdates": [{"fields": fields} for fields in subtasks]}
        requests.append({"method": "POST", "path": BULK, "body": body})
    return requests
