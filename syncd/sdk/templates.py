"""User templates for connector renderings: sandboxed Jinja2 with the target's escaping on by default.

A connector's `template:` settings override its built-in rendering of a record field (JIRA
`description`, Slack `blocks`, ...). Templates run in Jinja2's `ImmutableSandboxedEnvironment`
with `StrictUndefined`, so a template can neither reach Python internals nor mutate the ticket,
and a typo fails loudly instead of rendering an empty string.

Ticket text is untrusted, so escaping is autoescape-style: the environment's `finalize` passes
every `{{ expr }}` output through the target's escape (JIRA wiki markup, Markdown, Slack `&<>`,
identity for plain text). A template author opts out per expression with `| raw_markup`, which
wraps the value in `Raw`; any later string operation drops the mark again (safe by default).
Targets that render to JSON (Slack `blocks`) also JSON-encode every output — that part is
structural and has no opt-out, so no value can break out of its string.

Defaults ship as files (`syncd/sdk/default_templates/<target>/<name>.j2`) a user can copy and edit.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, Callable, Mapping

from pydantic import AfterValidator

from syncd.errors import TicketDataError
from syncd.models import ActionItem, Ticket
from syncd.sdk import render

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment

# jinja2 is imported at first use: a run whose connectors configure no template renders with the
# built-in Python paths and never needs it (~25 ms of a `run-once` start-up).

Escape = Callable[[str], str]


class Raw(str):
    """Text the template author marked as target markup: not escaped on output."""


def identity(text: str) -> str:
    return text


def json_string(text: str) -> str:
    """The inside of a JSON string literal (the template supplies the quotes)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def map_value(value: Any, mapping: Mapping[str, Any], default: Any = None) -> Any:
    """`{{ ticket.effort | map_value(effort_map) }}`: the mapped value, else `default` (None: unmapped)."""
    if not isinstance(mapping, Mapping):
        raise TypeError("map_value needs a mapping, e.g. map_value(effort_map)")
    return mapping.get(str(value), default)


def _finalizer(escape: Escape, encode: Escape) -> Callable[[Any], str]:
    def finalize(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, Raw):
            return encode(str(value))
        return encode(escape(str(value)))
    return finalize


def environment(escape: Escape = identity, encode: Escape = identity, *,
                finalize: Callable[[Any], str] | None = None) -> ImmutableSandboxedEnvironment:
    """A sandboxed environment whose `{{ }}` output passes through `escape` (unless raw) then `encode`."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined,
                                        finalize=finalize or _finalizer(escape, encode),
                                        trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["raw_markup"] = Raw
    env.filters["map_value"] = map_value
    env.filters["human"] = lambda v: str(v).replace("_", " ").strip().capitalize() or "—"
    return env


@lru_cache(maxsize=None)
def _check_env() -> ImmutableSandboxedEnvironment:
    """The environment for syntax checks and `fields:` values (syntax and filter names do not depend
    on the escape); made at first use."""
    return environment()


# Every name a connector puts in a template's context (see `context` and each connector's render).
KNOWN_NAMES = frozenset({"ticket", "facts", "supporting", "impact_detail", "effort_map", "category_map",
                         "priority_map", "assignee_map", "source_link", "title", "mention",
                         "assignee_mention"})
# What child-record templates (`item_title`, `item_description`) see on top: the action item.
ITEM_NAMES = frozenset({"item", "item_detail"})


def known_names(template_name: str) -> frozenset[str]:
    """The variables template `template_name` may use: item templates also see `item`."""
    return KNOWN_NAMES | ITEM_NAMES if template_name.startswith("item_") else KNOWN_NAMES


def syntax_error(source: str, names: frozenset[str] = KNOWN_NAMES) -> str | None:
    """None when `source` compiles and uses only `names` as variables, else `line N: message`."""
    from jinja2 import TemplateError, TemplateSyntaxError, meta, nodes

    env = _check_env()
    try:
        tree = env.parse(source)
        env.from_string(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    except TemplateError as exc:
        return str(exc)
    unknown = meta.find_undeclared_variables(tree) - names
    if unknown:
        first = min((n for n in tree.find_all(nodes.Name) if n.name in unknown), key=lambda n: n.lineno)
        return (f"line {first.lineno}: unknown variable {first.name!r} "
                f"(known: {', '.join(sorted(names))})")
    return None


def check_source(source: str) -> str:
    """Pydantic validator: a template string that compiles, or ValueError `line N: message`."""
    problem = syntax_error(source)
    if problem:
        raise ValueError(problem)
    return source


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_value(value: Any) -> Any:
    """Pydantic validator for `fields:` values: every template string inside must compile."""
    for text in _strings(value):
        if is_template(text):
            check_source(text)
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@lru_cache(maxsize=None)
def default_source(target: str, name: str) -> str:
    """The shipped default template `syncd/sdk/default_templates/<target>/<name>.j2`."""
    path = resources.files("syncd.sdk") / "default_templates" / target / f"{name}.j2"
    return path.read_text(encoding="utf-8")


def mapped_assignee(ticket: Ticket, assignee_map: Mapping[str, str]) -> tuple[bool, str | None]:
    """(known, target user id). A listing omits `assignee` (Cogny's list has none): unknown is not
    unassigned, so callers leave the assignee out of the record instead of clearing it."""
    known = bool(assignee_map) and "assignee" in ticket.model_fields_set
    return known, assignee_map.get(ticket.assignee or "") if known else None


def context(ticket: Ticket, **extra: Any) -> dict[str, Any]:
    """What every template sees: `ticket` (API fields + impact_line, url) and shared helpers."""
    data = ticket.model_dump(mode="json")
    data["impact_line"] = ticket.impact_line
    return {"ticket": data, "facts": render.facts(ticket), "supporting": render.supporting(ticket),
            "impact_detail": render.impact_detail(ticket), **extra}


def item_context(ctx: Mapping[str, Any], item: ActionItem) -> dict[str, Any]:
    """A child record's context: the ticket's, plus `item` (the action item) and its built-in detail text."""
    return {**ctx, "item": item.model_dump(mode="json"), "item_detail": render.item_detail(item)}


def check_unique_titles(where: str, titles: Mapping[str, str]) -> None:
    """Child titles are how a child is found again: a template must keep them one per action item."""
    seen: dict[str, str] = {}
    for key, title in titles.items():
        if title in seen:
            raise TicketDataError(f"{where}: renders {title!r} for both {seen[title]!r} and {key!r}; "
                                  f"child titles must differ (use {{{{ item.title }}}})")
        seen[title] = key


@dataclass
class Renderer:
    """One connector's templates: configured ones, else the shipped defaults, each with its escape.

    `escapes` maps a template name to (escape, encode); names without an entry render as plain text.
    """

    target: str
    configured: Mapping[Any, str]  # template name -> source (each target has its own names)
    escapes: Mapping[str, tuple[Escape, Escape]] = field(default_factory=dict)
    _compiled: dict[str, Template] = field(default_factory=dict, repr=False)

    def has(self, name: str) -> bool:
        return name in self.configured

    def has_any(self, *names: str) -> bool:
        return any(name in self.configured for name in names)

    def render_or(self, name: str, ctx: Mapping[str, Any], default: str) -> str:
        """Template `name` when the user configured one, else `default` (the built-in value)."""
        return self.render(name, ctx) if self.has(name) else default

    def render_item(self, ctx: Mapping[str, Any], item: ActionItem,
                    escape: Callable[[str], str]) -> tuple[str, str]:
        """A child record's (title, description): the `item_*` templates where configured, else the
        action item's title and its built-in detail text through `escape` (the target's escaping)."""
        ictx = item_context(ctx, item) if self.has_any("item_title", "item_description") else ctx
        description = (self.render("item_description", ictx) if self.has("item_description")
                       else escape(render.item_detail(item)))
        return self.render_or("item_title", ictx, item.title), description

    def render(self, name: str, ctx: Mapping[str, Any]) -> str:
        """Render template `name`; a failure is this ticket's data error, naming the template."""
        try:
            return self._template(name).render(ctx)
        except TicketDataError:
            raise
        except Exception as exc:  # UndefinedError, SecurityError, TypeError from a filter...
            where = (f"{self.target}.template.{name}" if name in self.configured
                     else f"default {self.target}/{name}.j2")
            raise TicketDataError(f"{where}: {type(exc).__name__}: {exc}") from None

    def value(self, text: str, ctx: Mapping[str, Any], where: str) -> Any:
        """A `fields:` value template, typed by its own text (see `typed_value`), never by ticket data."""
        key = f"value:{text}"
        if key not in self._compiled:
            self._compiled[key] = _value_env().from_string(text)
        slots: list[Any] = []
        token = _slots.set(slots)
        try:
            out = self._compiled[key].render(ctx).strip()
        except Exception as exc:
            raise TicketDataError(f"{self.target}.fields.{where}: {type(exc).__name__}: {exc}") from None
        finally:
            _slots.reset(token)
        return typed_value(out, slots)

    def _template(self, name: str) -> Template:
        if name not in self._compiled:
            source = self.configured.get(name)
            if source is None:
                source = default_source(self.target, name)
            escape, encode = self.escapes.get(name, (identity, identity))
            self._compiled[name] = environment(escape, encode).from_string(source)
        return self._compiled[name]


# -- `fields:` values: the template's own text decides the JSON type ----------------------------------
# Each `{{ }}` output becomes a slot while rendering; the values are put back afterwards as data, so
# a ticket whose effort is `{"accountId": "attacker"}` fills a field with that string, not an object.
_slots: ContextVar[list[Any]] = ContextVar("syncd_template_slots")
_SLOT = re.compile("\x00([0-9]+)\x00")


def _slot(value: Any) -> str:
    slots = _slots.get()
    slots.append(str(value) if isinstance(value, Raw) else value)
    return f"\x00{len(slots) - 1}\x00"


@lru_cache(maxsize=None)
def _value_env() -> ImmutableSandboxedEnvironment:
    return environment(finalize=_slot)


def typed_value(out: str, slots: list[Any]) -> Any:
    """The value of a rendered `fields:` template whose `{{ }}` outputs are `slots`.

    A template that is one `{{ }}` gives that value as it is (a number from `effort_map` stays a
    number, ticket text stays a string; '' or None means unset). Otherwise, if the template's own
    text is JSON around the values (`{"name": "{{ ticket.category }}"}`), the values are encoded
    into it as JSON data and the result parsed; else the text is a plain string.
    """
    whole = _SLOT.fullmatch(out)
    if whole:
        value = slots[int(whole.group(1))]
        return None if value is None or value == "" else value
    if slots:
        try:
            return json.loads(_json_with_values(out, slots))
        except ValueError:
            pass
    elif out:
        try:
            return json.loads(out)  # no ticket value in it: the config's own literal JSON
        except ValueError:
            pass
    text = _SLOT.sub(lambda m: _plain(slots[int(m.group(1))]), out)
    return text or None


def _json_with_values(out: str, slots: list[Any]) -> str:
    """`out` with each slot JSON-encoded: a string's content inside quotes, a whole JSON value outside."""
    pieces = _SLOT.split(out)  # literal, slot index, literal, ...
    parts: list[str] = []
    in_string = False
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            parts.append(piece)
            in_string = _string_state_after(piece, in_string)
        else:
            value = slots[int(piece)]
            parts.append(json_string(_plain(value)) if in_string else json.dumps(value, default=str))
    return "".join(parts)


def _string_state_after(literal: str, in_string: bool) -> bool:
    """Whether JSON text is inside a string literal after `literal` (starting in `in_string`)."""
    escaped = False
    for char in literal:
        if escaped:
            escaped = False
        elif in_string and char == "\\":
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def render_values(renderer: Renderer, value: Any, ctx: Mapping[str, Any], where: str) -> Any:
    """Render every template string inside a static `fields:` value (dicts and lists walked)."""
    if is_template(value):
        return renderer.value(value, ctx, where)
    if isinstance(value, dict):
        return {k: render_values(renderer, v, ctx, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render_values(renderer, v, ctx, f"{where}.{i}") for i, v in enumerate(value)]
    return value


def render_fields(renderer: Renderer, fields: Mapping[str, Any], ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Every `fields:` entry with its templates rendered (see `render_values`)."""
    return {key: render_values(renderer, value, ctx, key) for key, value in fields.items()}


FieldValue = Annotated[Any, AfterValidator(check_value)]
