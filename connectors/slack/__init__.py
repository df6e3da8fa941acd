"""Slack: one message per ticket, kept up to date in place (`slack-sdk`)."""

from connectors.slack.connector import SlackConnector
from connectors.slack.settings import SlackSettings

__all__ = ["SlackConnector", "SlackSettings"]
