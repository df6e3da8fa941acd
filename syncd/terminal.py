"""What syncd prints to a terminal: ticket text shown as text, never as control sequences.

Ticket ids, titles and error messages are untrusted. Printed raw, `\\x1b]0;PWNED\\x07` retitles the
operator's terminal, `\\x1b[2J` clears it, a newline forges a line of output and U+202E reverses
what follows. `printable` makes every such character visible as an escape instead; `Terminal`
is a rich Console that applies it to every string it prints, and `cells` does it for table rows
(whose strings rich would otherwise also read as markup, `[link=…]` included).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from rich.console import Console
from rich.text import Text

__all__ = ["Terminal", "cells", "printable"]

# C0 and C1 controls, DEL, and the Unicode bidirectional overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def printable(text: object) -> str:
    """`text` with every control character shown as an escape (`\\x1b`, `\\n`, `\\u202e`)."""
    return _UNSAFE.sub(_escape, str(text))


def cells(*values: object) -> list[Text]:
    """Table cells shown literally: control characters escaped, `[` never read as markup."""
    return [Text(printable("" if v is None else v)) for v in values]


class Terminal(Console):
    """A rich Console whose string arguments are made printable first (see `printable`).

    Strings syncd writes itself never contain control characters, so nothing of ours is lost;
    line breaks are separate `print` calls.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*_printable_all(objects), **kwargs)


def _printable_all(objects: Iterable[Any]) -> list[Any]:
    return [printable(o) if isinstance(o, str) else o for o in objects]
