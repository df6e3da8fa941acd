r"""A small, honest JQL subset for the JIRA sandbox: tokenizer, recursive-descent parser, evaluator.

Grammar (keywords case-insensitive)::

    query   := [or_expr] [ORDER BY field [ASC|DESC] {, field [ASC|DESC]}]
    or_expr := and_expr {OR and_expr}
    and_expr:= unary {AND unary}
    unary   := NOT unary | "(" or_expr ")" | clause
    clause  := field op operand
    op      := = | != | > | >= | < | <= | ~ | IN | NOT IN | IS | IS NOT
    operand := value | "(" value {, value} ")" | EMPTY | NULL

Anything outside the subset raises `JqlError` with a JIRA-style message, so a caller relying on
JQL the sandbox cannot evaluate finds out in tests instead of getting silently wrong results.
Quoted strings follow JIRA's grammar: the escapes `\"` `\'` `\\` `\t` `\n` `\r` `\ ` and `\uXXXX`;
any other escape, and a raw control character other than a line break, is refused.
Evaluation runs against a *record*: a dict of field name -> list of values (strings, or
datetimes for date fields), built by the sandbox for each issue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Union

# Canonical field name for each JQL clause name the sandbox understands.
FIELDS: dict[str, str] = {
    "project": "project", "labels": "labels", "key": "key", "issuekey": "key", "id": "key",
    "issue": "key", "parent": "parent", "status": "status", "statuscategory": "statusCategory",
    "issuetype": "issuetype", "type": "issuetype", "priority": "priority", "summary": "summary",
    "created": "created", "createddate": "created", "updated": "updated", "updateddate": "updated",
}
DATE_FIELDS = frozenset({"created", "updated"})
TEXT_FIELDS = frozenset({"summary"})
LIST_OPS = frozenset({"in", "not in"})
ORDER_FIELDS = frozenset({"key", "created", "updated", "priority", "summary", "status", "issuetype"})
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"})
_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|!~|=|>|<|~)
                        |(?P<punct>[(),])|(?P<word>[\w\-.]+))""", re.X)
_RELATIVE = re.compile(r"^([+-]?)(\d+)([wdhm])$")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_ESCAPED = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "'": "'", "\\": "\\", " ": " "}
# What JIRA's grammar refuses raw inside a quoted string (line breaks are allowed).
_ILLEGAL = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]")


class JqlError(ValueError):
    """A query the sandbox (like JIRA) refuses: answered as HTTP 400 with `errorMessages`."""


@dataclass(frozen=True)
class Token:
    kind: str  # "str" (quoted), "word", "op", "punct", "end"
    text: str
    pos: int

    def is_kw(self, word: str) -> bool:
        return self.kind == "word" and self.text.lower() == word


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    values: tuple[str, ...]  # empty tuple for IS [NOT] EMPTY


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    parts: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    part: "Node"


Node = Union[Clause, BoolOp, Not]


@dataclass(frozen=True)
class Query:
    where: Node | None
    order: tuple[tuple[str, bool], ...]  # (field, descending)


def tokenize(text: str) -> list[Token]:
    """Split JQL into tokens; unknown characters are a syntax error, as in JIRA."""
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise _syntax(f"The character '{text[pos:].lstrip()[0]}' is a reserved JQL character.", pos)
        kind = match.lastgroup or "word"
        raw = match.group(kind)
        value = _unquote(raw, match.start(kind)) if kind == "str" else raw
        tokens.append(Token(kind, value, match.start(kind)))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(raw: str, pos: int) -> str:
    """The value of a quoted string token starting at `pos`, its escapes decoded as JIRA decodes them."""
    illegal = _ILLEGAL.search(raw)
    if illegal:
        raise _syntax(f"The quoted string contains the illegal character '\\u{ord(illegal.group()):04x}'.",
                      pos + illegal.start())

    def decode(match: re.Match[str]) -> str:
        seq = match.group(1)
        if len(seq) == 5:
            return chr(int(seq[1:], 16))
        if seq in _ESCAPED:
            return _ESCAPED[seq]
        raise _syntax(f"'\\{seq}' is an illegal JQL escape sequence. The valid escape sequences are \\', "
                      "\\\", \\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX.", pos + 1 + match.start())
    return _ESCAPE.sub(decode, raw[1:-1])


def _syntax(message: str, pos: int) -> JqlError:
    return JqlError(f"Error in the JQL Query: {message} (line 1, character {pos + 1})")


class _Parser:
    """Recursive-descent parser over the token list."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect_punct(self, char: str) -> None:
        if not (self.tok.kind == "punct" and self.tok.text == char):
            raise _syntax(f"Expecting '{char}' but got '{self.tok.text or 'end of query'}'.", self.tok.pos)
        self.take()

    def parse(self) -> Query:
        where = None
        if self.tok.kind != "end" and not self.tok.is_kw("order"):
            where = self.or_expr()
        order = self.order_by() if self.tok.is_kw("order") else ()
        if self.tok.kind != "end":
            raise _syntax(f"Expecting either 'OR' or 'AND' but got '{self.tok.text}'.", self.tok.pos)
        return Query(where, order)

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.tok.is_kw("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.unary()]
        while self.tok.is_kw("and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def unary(self) -> Node:
        if self.tok.is_kw("not"):
            self.take()
            return Not(self.unary())
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.take()
            node = self.or_expr()
            self.expect_punct(")")
            return node
        return self.clause()

    def clause(self) -> Clause:
        tok = self.take()
        if tok.kind not in ("word", "str") or (tok.kind == "word" and tok.text.lower() in KEYWORDS):
            raise _syntax(f"Expecting a field name but got '{tok.text or 'end of query'}'.", tok.pos)
        field = FIELDS.get(tok.text.lower())
        if field is None:
            raise JqlError(f"Field '{tok.text}' does not exist or you do not have permission to view it.")
        op = self.operator()
        if op in ("is", "is not"):
            if not (self.tok.is_kw("empty") or self.tok.is_kw("null")):
                raise _syntax(f"Expecting 'EMPTY' or 'NULL' after '{op.upper()}'.", self.tok.pos)
            self.take()
            return Clause(field, op, ())
        values = self.value_list() if op in LIST_OPS else (self.value(),)
        _check_op(field, op)
        return Clause(field, op, values)

    def operator(self) -> str:
        tok = self.take()
        if tok.kind == "op":
            return tok.text
        if tok.is_kw("in"):
            return "in"
        if tok.is_kw("not") and self.tok.is_kw("in"):
            self.take()
            return "not in"
        if tok.is_kw("is"):
            if self.tok.is_kw("not"):
                self.take()
                return "is not"
            return "is"
        raise _syntax(f"Expecting operator but got '{tok.text or 'end of query'}'.", tok.pos)

    def value(self) -> str:
        tok = self.take()
        if tok.kind == "str" or (tok.kind == "word" and tok.text.lower() not in KEYWORDS):
            return tok.text
        raise _syntax(f"Expecting a value but got '{tok.text or 'end of query'}'.", tok.pos)

    def value_list(self) -> tuple[str, ...]:
        self.expect_punct("(")
        values = [self.value()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.take()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def order_by(self) -> tuple[tuple[str, bool], ...]:
        self.take()
        if not self.tok.is_kw("by"):
            raise _syntax("Expecting 'by' after 'order'.", self.tok.pos)
        self.take()
        order = [self.order_item()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.take()
            order.append(self.order_item())
        return tuple(order)

    def order_item(self) -> tuple[str, bool]:
        tok = self.take()
        field = FIELDS.get(tok.text.lower()) if tok.kind in ("word", "str") else None
        if field not in ORDER_FIELDS:
            raise JqlError(f"Field '{tok.text}' does not exist or you do not have permission to view it.")
        descending = False
        if self.tok.is_kw("asc") or self.tok.is_kw("desc"):
            descending = self.take().text.lower() == "desc"
        return field, descending


def _check_op(field: str, op: str) -> None:
    """Reject operators JIRA does not support for the field (e.g. `labels > x`, `summary = x`)."""
    if field in DATE_FIELDS:
        allowed = {"=", "!=", ">", ">=", "<", "<=", "in", "not in"}
    elif field in TEXT_FIELDS:
        allowed = {"~", "!~"}
    else:
        allowed = {"=", "!=", "in", "not in"}
    if op not in allowed:
        raise JqlError(f"The operator '{op}' is not supported by the '{field}' field.")


def parse(text: str) -> Query:
    """Parse JQL text into a `Query`, or raise `JqlError`."""
    return _Parser(text).parse()


def validate(query: Query, known: Mapping[str, set[str]]) -> None:
    """Reject values JIRA would reject: unknown projects, statuses, types, priorities, issue keys.

    `known` maps a canonical field name to its valid values (lower-cased); fields absent from it
    accept any value (labels, summary).
    """
    for clause in _clauses(query.where):
        if clause.field in DATE_FIELDS:
            for value in clause.values:
                parse_date(value)
            continue
        valid = known.get(clause.field)
        if valid is None:
            continue
        for value in clause.values:
            if value.lower() not in valid:
                if clause.field in ("key", "parent"):
                    raise JqlError(f"An issue with key '{value}' does not exist for field '{clause.field}'.")
                raise JqlError(f"The value '{value}' does not exist for the field '{clause.field}'.")


def _clauses(node: Node | None) -> list[Clause]:
    if node is None:
        return []
    if isinstance(node, Clause):
        return [node]
    if isinstance(node, Not):
        return _clauses(node.part)
    return [c for part in node.parts for c in _clauses(part)]


def parse_date(value: str, now: datetime | None = None) -> datetime:
    """JQL date literal: "yyyy-MM-dd", "yyyy-MM-dd HH:mm" (or with /), or relative like -2d, -15m."""
    now = now or datetime.now(timezone.utc)
    rel = _RELATIVE.match(value.strip())
    if rel:
        sign, amount, unit = rel.groups()
        delta = timedelta(**{{"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}[unit]: int(amount)})
        return now - delta if sign == "-" else now + delta
    text = value.strip().replace("/", "-")
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise JqlError(f"Date value '{value}' for field is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
                   "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.")


Lookup = Callable[[str, tuple[str, ...]], Union[set[str], None]]


def narrow(node: Node | None, lookup: Lookup) -> set[str] | None:
    """Keys of the issues that can possibly satisfy `node`, from index look-ups; None: any issue can.

    `lookup(field, values)` answers for the fields an index covers (None for the others). Only
    positive `=` / `IN` clauses narrow; AND intersects what its parts narrow, OR unites when every
    part narrows; NOT, `!=`, dates and text leave the search open. The result is a superset of the
    matches, never a subset: callers still evaluate `matches` on every candidate.
    """
    if isinstance(node, Clause):
        return lookup(node.field, node.values) if node.op in ("=", "in") else None
    if isinstance(node, BoolOp):
        found = [narrow(part, lookup) for part in node.parts]
        if node.op == "or":
            return None if any(s is None for s in found) else set().union(*found)  # type: ignore[arg-type]
        known = [s for s in found if s is not None]
        return set.intersection(*known) if known else None
    return None


def matches(node: Node | None, record: Mapping[str, list[Any]]) -> bool:
    """Evaluate a parsed WHERE tree against one record (field -> list of values)."""
    if node is None:
        return True
    if isinstance(node, Not):
        return not matches(node.part, record)
    if isinstance(node, BoolOp):
        results = (matches(part, record) for part in node.parts)
        return all(results) if node.op == "and" else any(results)
    return _match_clause(node, record.get(node.field, []))


def _match_clause(clause: Clause, have: list[Any]) -> bool:
    if clause.op == "is":
        return not have
    if clause.op == "is not":
        return bool(have)
    if clause.field in DATE_FIELDS:
        return _match_date(clause, have)
    if clause.field in TEXT_FIELDS:
        words = [w for w in re.findall(r"\w+", clause.values[0].lower())]
        hit = bool(have) and all(w in str(have[0]).lower() for w in words)
        return hit if clause.op == "~" else not hit
    have_l = {str(v).lower() for v in have}
    want = {v.lower() for v in clause.values}
    hit = bool(have_l & want)
    if clause.op in ("=", "in"):
        return hit
    return bool(have) and not hit  # JIRA: `!=` / `not in` never match an empty field


_COMPARE: dict[str, Callable[[datetime, datetime], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}


def _match_date(clause: Clause, have: list[Any]) -> bool:
    if not have:
        return False
    stamp: datetime = have[0]
    if clause.op in LIST_OPS:
        hit = any(stamp == parse_date(v) for v in clause.values)
        return hit if clause.op == "in" else not hit
    return _COMPARE[clause.op](stamp, parse_date(clause.values[0]))
