"""In-process Slack: chat.postMessage / update / getPermalink and history, Block Kit checked as Slack does."""

from syncd.sandbox.slack.sandbox import SlackSandbox

__all__ = ["SlackSandbox"]
