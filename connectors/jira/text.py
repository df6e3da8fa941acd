"""How syncd writes text into JIRA: wiki-markup escaping, the built-in description, JIRA's limits.

Ticket text is untrusted, so every piece of it is escaped before it reaches wiki markup; the
structure around it (headings, bold labels, the source link) is ours and stays markup. A url
reaches markup only through `wiki_link`, which re-checks it (`syncd.models.safe_url`: no
`[|]{}`, spaces or other markup characters can end the link or open a macro or a mention).
"""

from __future__ import annotations

import re

from syncd.sdk import Ticket, render, safe_url


def one_line_summary(title: str) -> str:
    """JIRA summaries are one line of at most 255 characters."""
    one_line = " ".join(title.split())
    return one_line if len(one_line) <= 255 else one_line[:254] + "…"


_WIKI_SPECIAL = re.compile(r"[\\{}\[\]|*_+^~!?#-]")
# Each special character gets a backslash before it. The backslash goes first, so the ones added
# for the others are not escaped again: the same output as `re.sub(r"([\\{}\[\]|*_+^~!?#-])",
# r"\\\1", text)`, a few times faster (most strings hold none or one or two kinds).
_WIKI_ESCAPES = tuple((c, "\\" + c) for c in "\\{}[]|*_+^~!?#-")
_WIKI_LINE_START = re.compile(r"^(\s*)(h[1-6]|bq)\.", flags=re.M)
DESCRIPTION_LIMIT = 32_767  # JIRA refuses longer text fields ("The entered text is too long")


def escape_wiki(text: str) -> str:
    """Make user text inert in JIRA wiki markup (no links, macros, formatting, mentions or headings)."""
    text = str(text)  # a plain str, as re.sub returns, even for a str subclass
    if _WIKI_SPECIAL.search(text) is not None:
        for char, escaped in _WIKI_ESCAPES:
            if char in text:
                text = text.replace(char, escaped)
    if "." in text:  # only a dot can end a line-start heading (`h1.`..`h6.`) or quote (`bq.`)
        text = _WIKI_LINE_START.sub(r"\1\2\\.", text)
    return text


def wiki_link(text: str, url: str) -> str:
    """`[text|url]` with the text escaped, when `url` is a link syncd may render; else ''."""
    url = safe_url(url)
    return f"[{escape_wiki(text)}|{url}]" if url else ""


def clip_description(text: str, ticket: Ticket) -> str:
    """Keep a description within JIRA's limit, ending with where to read the rest."""
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    where = wiki_link("Cogny ticket", ticket.url) or "Cogny ticket"
    tail = f"\n\n… (truncated: the full text is in the {where})"
    return text[:DESCRIPTION_LIMIT - len(tail)] + tail


def render_description(ticket: Ticket) -> str:
    """The issue description in wiki markup; ticket text is escaped, our structure is not."""
    lines = [escape_wiki(ticket.description), ""]
    lines += [f"*{label}:* {escape_wiki(value)}" for label, value in render.facts(ticket)]
    data = render.supporting(ticket)
    if data:
        lines += ["", "h4. Supporting data"]
        lines += [f"* {escape_wiki(k)}: {escape_wiki(v)}" for k, v in data]
    if ticket.action_items:
        lines += ["", "h4. Action items (one sub-task each)"]
        lines += [f"* {escape_wiki(i.title)}" for i in ticket.action_items]
    link = source_link(ticket)
    if link:
        lines += ["", f"Source: {link}"]
    return "\n".join(lines).strip()


def source_link(ticket: Ticket) -> str:
    """The description's link to the Cogny ticket ('' when the ticket has no url syncd may render)."""
    return wiki_link(f"Cogny ticket {ticket.id}", ticket.url)  # wiki_link re-checks the url
