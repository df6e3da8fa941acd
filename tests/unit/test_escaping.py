"""Escaping per target, against tables written by hand from each vendor's documented markup.

Every expected string below is literal: none is computed by the function under test or a copy of
it. The sources:

- JIRA wiki markup ("Text formatting notation"): a backslash before a character makes it literal;
  the characters that start markup are `* _ + ^ ~ - ? ! # | [ ] { }` and `\\` itself, and a line
  starting `h1.`..`h6.` or `bq.` is a heading or a quote.
- Markdown, as Linear renders it (CommonMark 0.31, "Backslash escapes"): any ASCII punctuation may be
  backslash-escaped; `1. ` at a line start opens an ordered list; Linear also links `@` mentions.
- Slack mrkdwn ("Formatting text for app surfaces", "Escaping text"): only `&`, `<` and `>` are
  control characters, written `&amp;`, `&lt;`, `&gt;`; `* _ ~ \\`` have no escape at all, so syncd
  swaps them for look-alike characters.
- Asana notes are plain text: nothing is markup, so nothing changes.
- A terminal: C0/C1 controls, DEL and the bidi overrides/isolates are shown as escapes.

A character's neighbours that are *not* special are in the tables too: escaping too much is a bug
as well (a `\\.` in a JIRA description shows the backslash).
"""

from __future__ import annotations

import pytest

from connectors.jira.text import escape_wiki, one_line_summary, wiki_link
from connectors.linear.render import escape_markdown
from connectors.slack.render import button_url, clip, escape, inert_mrkdwn
from syncd.models import Ticket
from syncd.sandbox._common.tickets import make_ticket
from syncd.terminal import cells, printable

NASTY = "{{ 7*7 }} {% raw %} <!channel> [link|http://x] *bold* _it_ `code` & <b>"

# -- JIRA wiki markup -------------------------------------------------------------------------------------

JIRA_WIKI = {
    "": "",
    "plain words, digits 42 and 3.5% off": "plain words, digits 42 and 3.5% off",
    NASTY: r"\{\{ 7\*7 \}\} \{% raw %\} <\!channel> \[link\|http://x\] \*bold\* \_it\_ `code` & <b>",
    "\\": "\\\\",
    "\\*": "\\\\\\*",  # the backslash first, so the one added for `*` is not doubled
    "*": r"\*", "_": r"\_", "+": r"\+", "^": r"\^", "~": r"\~", "-": r"\-", "?": r"\?", "!": r"\!",
    "#": r"\#", "|": r"\|", "[": r"\[", "]": r"\]", "{": r"\{", "}": r"\}",
    "{code}x{code}": r"\{code\}x\{code\}",
    "[~admin]": r"\[\~admin\]",
    "!http://evil/a.png!": r"\!http://evil/a.png\!",
    "a--b": r"a\-\-b",
    # not markup in wiki text: left alone
    "%": "%", "<": "<", ">": ">", "&": "&", "`": "`", ".": ".", ":": ":", "/": "/", "(": "(", ")": ")",
    "=": "=", "@": "@", "$": "$", "'": "'", '"': '"', ";": ";", ",": ",",
    # line-start headings and quotes lose their dot's meaning
    "h1. Title": r"h1\. Title",
    "h6. x": r"h6\. x",
    "  h3. indented": r"  h3\. indented",
    "bq. quoted": r"bq\. quoted",
    "first\nh2. second": "first\nh2\\. second",
    "h1.": r"h1\.",
    "h7. not a heading": "h7. not a heading",
    "h0. not a heading": "h0. not a heading",
    "xh1. mid-word": r"xh1. mid\-word",
    "see h1. later": "see h1. later",
    "h1 . spaced": "h1 . spaced",
    "bqx. no": "bqx. no",
}


@pytest.mark.parametrize("text, expected", JIRA_WIKI.items(), ids=repr)
def test_jira_wiki_escape_table(text: str, expected: str) -> None:
    assert escape_wiki(text) == expected


def test_jira_wiki_escape_returns_a_plain_str_for_a_str_subclass() -> None:
    class Marked(str):
        pass

    out = escape_wiki(Marked("a*b"))
    assert type(out) is str and out == r"a\*b"
    assert type(escape_wiki(Marked("plain"))) is str


def test_jira_wiki_link_escapes_the_text_and_checks_the_url() -> None:
    assert wiki_link("a|b*", "https://app.cogny.com/tickets/tkt_1") == r"[a\|b\*|https://app.cogny.com/tickets/tkt_1]"
    assert wiki_link("text", "javascript:alert(1)") == ""
    assert wiki_link("text", "https://x.test/a]b") == ""  # `]` would end the link early


@pytest.mark.parametrize("title, expected", [
    ("a \n b\tc", "a b c"),
    ("x" * 255, "x" * 255),
    ("x" * 256, "x" * 254 + "…"),
    ("  padded  ", "padded"),
])
def test_jira_summary_is_one_line_of_at_most_255(title: str, expected: str) -> None:
    assert one_line_summary(title) == expected


# -- Markdown (Linear) -------------------------------------------------------------------------------------

MARKDOWN = {
    "": "",
    "plain words, digits 42 and 3.5% off": "plain words, digits 42 and 3.5% off",
    NASTY: r"\{\{ 7\*7 \}\} \{% raw %\} \<\!channel\> \[link\|http://x\] \*bold\* \_it\_ \`code\` \& \<b\>",
    "\\": "\\\\",
    "\\*": "\\\\\\*",
    "`": r"\`", "*": r"\*", "_": r"\_", "{": r"\{", "}": r"\}", "[": r"\[", "]": r"\]", "(": r"\(",
    ")": r"\)", "<": r"\<", ">": r"\>", "#": r"\#", "+": r"\+", "-": r"\-", "!": r"\!", "|": r"\|",
    "~": r"\~", "&": r"\&", "=": r"\=", "@": r"\@",
    "[a](http://evil)": r"\[a\]\(http://evil\)",
    "<img src=x onerror=alert(1)>": r"\<img src\=x onerror\=alert\(1\)\>",
    "&amp;": r"\&amp;",
    "@admin": r"\@admin",
    # not markup here: left alone
    ".": ".", ":": ":", "%": "%", "$": "$", "^": "^", "?": "?", "'": "'", '"': '"', "/": "/", ";": ";",
    # a number and a dot at a line start would open an ordered list
    "1. item": r"1\. item",
    "12. item": r"12\. item",
    "  3. indented": r"  3\. indented",
    "1.": r"1\.",
    "x\n2. second": "x\n2\\. second",
    "1.5 is a number": "1.5 is a number",
    "a 1. mid-line": r"a 1. mid\-line",
    "1.\tafter a tab": "1\\.\tafter a tab",
    "12 items": "12 items",  # no dot: not a list
    "1a b": "1a b",
}


@pytest.mark.parametrize("text, expected", MARKDOWN.items(), ids=repr)
def test_linear_markdown_escape_table(text: str, expected: str) -> None:
    assert escape_markdown(text) == expected


# -- Slack mrkdwn -------------------------------------------------------------------------------------------

SLACK_ESCAPE = {
    "": "",
    "plain": "plain",
    "&": "&amp;", "<": "&lt;", ">": "&gt;",
    "&lt;": "&amp;lt;",  # `&` first: an entity in ticket text stays text
    "<!channel> & <@U0ADMIN>": "&lt;!channel&gt; &amp; &lt;@U0ADMIN&gt;",
    "<http://evil|click>": "&lt;http://evil|click&gt;",
    # not control characters in Slack's text: left alone by `escape`
    "*b* _i_ ~s~ `c` \"q\" 'a' |": "*b* _i_ ~s~ `c` \"q\" 'a' |",
}


@pytest.mark.parametrize("text, expected", SLACK_ESCAPE.items(), ids=repr)
def test_slack_escape_table(text: str, expected: str) -> None:
    assert escape(text) == expected


SLACK_INERT = {
    "": "",
    NASTY: "{{ 7∗7 }} {% raw %} &lt;!channel&gt; [link|http://x] ∗bold∗ ˍitˍ ˋcodeˋ &amp; &lt;b&gt;",
    "*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ",
    "<!here>": "&lt;!here&gt;",
    "snake_case_name": "snakeˍcaseˍname",
    "#channel |pipe| 'q' \"d\" -dash +plus": "#channel |pipe| 'q' \"d\" -dash +plus",
}


@pytest.mark.parametrize("text, expected", SLACK_INERT.items(), ids=repr)
def test_slack_inert_mrkdwn_table(text: str, expected: str) -> None:
    assert inert_mrkdwn(text) == expected


@pytest.mark.parametrize("escaped, limit, expected", [
    ("abcd", 4, "abcd"),  # exactly the limit: kept whole
    ("abc", 5, "abc"),
    ("abcdef", 4, "abc…"),
    ("ab&amp;cd", 5, "ab…"),  # the cut would split `&amp;`: the entity goes whole
    ("a&amp;bcdef", 8, "a&amp;b…"),  # a whole entity before the cut stays
    ("a&amp;bcdef", 7, "a&amp;…"),  # the limit counts the ellipsis
    ("&lt;x", 3, "…"),
    ("a&b&amp;cdef", 6, "a&b…"),  # only the last `&` before the cut counts
])
def test_slack_clip_never_cuts_an_entity(escaped: str, limit: int, expected: str) -> None:
    assert clip(escaped, limit) == expected


def test_slack_button_url_is_a_checked_link_or_none() -> None:
    ok = "https://app.cogny.com/tickets/tkt_1"
    assert button_url(ok) == ok
    assert button_url(None) is None and button_url("") is None
    assert button_url("javascript:alert(1)") is None
    # syncd renders no link over 2,048 characters anywhere (well within a button's 3,000)
    long = "https://app.cogny.com/" + "a" * (2048 - len("https://app.cogny.com/"))
    assert len(long) == 2048 and button_url(long) == long
    assert button_url(long + "a") is None


# -- Asana: plain text, shown as it is ----------------------------------------------------------------------

def test_asana_notes_carry_ticket_text_unchanged_and_the_marker_last() -> None:
    import connectors.asana as asana

    conn = asana.AsanaConnector("asana", asana.AsanaSettings(token="t", workspace_gid="1", project_gid="2",
                                                             template={"description": "{{ ticket.title }}"}))
    ticket = Ticket.parse(make_ticket(id="tkt_plain01", title=NASTY))
    assert conn.render(ticket).record["notes"] == NASTY + "\n\ncogny:tkt_plain01"


# -- the terminal ------------------------------------------------------------------------------------------

TERMINAL = {
    "": "",
    "plain text, é, 🚀, مرحبا": "plain text, é, 🚀, مرحبا",
    "\x1b]0;PWNED\x07": "\\x1b]0;PWNED\\x07",
    "\x1b[2J": "\\x1b[2J",
    "a\nb": "a\\nb", "a\rb": "a\\rb", "a\tb": "a\\tb",
    "\x00": "\\x00", "\x01": "\\x01", "\x1f": "\\x1f", " ": " ", "~": "~",
    "\x7f": "\\x7f", "\x80": "\\x80", "\x9b": "\\x9b", "\x9f": "\\x9f", "\xa0": "\xa0",
    "\u2029": "\u2029",
    "\u202a": "\\u202a", "\u202b": "\\u202b", "\u202c": "\\u202c", "\u202d": "\\u202d",
    "\u202e": "\\u202e", "\u202f": "\u202f", "\u2029x": "\u2029x",
    "\u2065": "\u2065", "\u2066": "\\u2066", "\u2067": "\\u2067", "\u2068": "\\u2068",
    "\u2069": "\\u2069", "\u206a": "\u206a",
    "[link=http://evil]x[/link]": "[link=http://evil]x[/link]",
}


@pytest.mark.parametrize("text, expected", TERMINAL.items(), ids=repr)
def test_terminal_printable_table(text: str, expected: str) -> None:
    assert printable(text) == expected


def test_terminal_cells_are_printable_text_and_none_is_empty() -> None:
    assert [c.plain for c in cells("a\x1bb", None, 3, "[b]x[/b]")] == ["a\\x1bb", "", "3", "[b]x[/b]"]
