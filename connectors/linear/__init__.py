"""Linear: one issue per ticket, one sub-issue per action item (GraphQL over the shared policy)."""

from connectors.linear.connector import LinearConnector
from connectors.linear.settings import LinearSettings

__all__ = ["LinearConnector", "LinearSettings"]
