r"""JQL as the JIRA connector writes it: every value a double-quoted string literal, escaped in one place.

Ticket data is untrusted and a JQL value is syntax if it is not escaped: an id like
`x"OR"labels"="cogny-tkt_victim` would widen a marker search to another ticket's issue. So every
value (marker labels and the configured project key alike) goes through `jql_string`, which
follows JIRA's grammar for quoted strings: `\"` and `\\` for the quote and the backslash, `\t`
`\n` `\r` for those, and `\uXXXX` for the characters JIRA refuses raw in a string (control
characters, non-characters, lone surrogates).
"""

from __future__ import annotations

import re
from typing import Sequence

_NAMED = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r"}
# What JIRA's JQL grammar does not take raw inside a quoted string, and the quote and backslash.
_SPECIAL = re.compile('[\\\\"\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]')


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\u{ord(char):04x}"


def jql_string(value: str) -> str:
    """`value` as a JQL string literal (quotes included): always data, never JQL syntax."""
    return '"' + _SPECIAL.sub(_escape, str(value)) + '"'


def labels_query(project: str | None, labels: Sequence[str]) -> str:
    """The issues carrying any of `labels` (in `project`; None: every project one can see), oldest first.

    JQL compares labels ignoring case, so callers still check the labels each hit carries.
    """
    if not labels:
        raise ValueError("labels_query needs at least one label")
    values = ", ".join(jql_string(label) for label in labels)
    clause = f"labels = {values}" if len(labels) == 1 else f"labels in ({values})"
    where = f"project = {jql_string(project)} AND {clause}" if project else clause
    return f"{where} ORDER BY created ASC"
