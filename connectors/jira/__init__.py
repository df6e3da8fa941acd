"""JIRA: one issue per ticket, one sub-task per action item (REST v2/v3 through the `jira` library)."""

from connectors.jira.connector import JiraConnector
from connectors.jira.settings import JiraSettings

__all__ = ["JiraConnector", "JiraSettings"]
