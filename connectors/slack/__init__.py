"""Slack: one message per ticket, kept up to date in place (`slack-sdk`)."""

from connectors.slack.connector import SlackConnector, SlackSettings

__all__ = ["SlackConnector", "SlackSettings"]
