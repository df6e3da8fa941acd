"""Asana: one task per ticket, one subtask per action item (REST over the shared policy)."""

from connectors.asana.connector import AsanaConnector
from connectors.asana.settings import AsanaSettings

__all__ = ["AsanaConnector", "AsanaSettings"]
