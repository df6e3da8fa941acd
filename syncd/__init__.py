"""syncd: keep Cogny growth tickets mirrored into JIRA, Linear, Asana and Slack."""

__version__ = "0.1.0"
