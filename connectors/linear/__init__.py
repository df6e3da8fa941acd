"""Linear: one issue per ticket, one sub-issue per action item (GraphQL over the shared policy)."""

from connectors.linear.connector import LinearConnector, LinearSettings

__all__ = ["LinearConnector", "LinearSettings"]
