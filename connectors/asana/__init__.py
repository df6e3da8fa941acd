"""Asana: one task per ticket, one subtask per action item (REST over the shared policy)."""

from connectors.asana.connector import AsanaConnector, AsanaSettings

__all__ = ["AsanaConnector", "AsanaSettings"]
