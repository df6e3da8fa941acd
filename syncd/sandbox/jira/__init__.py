"""In-process JIRA: issues, sub-tasks, JQL search (Cloud and Server), transitions, components and webhooks."""

from syncd.sandbox.jira.sandbox import JiraSandbox

__all__ = ["JiraSandbox"]
