"""Linear's published GraphQL schema, and the conventions every resolver of the sandbox follows.

Documents are validated and executed by graphql-core against the real schema (built once per
process: the SDL is 1.2 MB). Objects are plain dicts (`View`); connection and relation fields
are callables that `resolve_field` calls with the field's arguments. Errors are shaped as
Linear's (`api_error`); a field, filter or comparator the sandbox does not implement is refused
with SANDBOX_UNSUPPORTED, never silently ignored or answered with null. Relay connections and
filters over plain dicts are here too; the resolvers themselves are in resolvers.py.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from graphql import GraphQLError, GraphQLSchema, build_schema

from syncd.sandbox import specs

View = dict[str, Any]  # an object as the resolvers hand it to graphql-core


@functools.cache
def load_schema() -> GraphQLSchema:
    """Build Linear's vendored schema once per process (the SDL is 1.2 MB)."""
    return build_schema(specs.text(specs.LINEAR), assume_valid_sdl=True)


def api_error(message: str, *, code: str = "INVALID_INPUT", kind: str = "invalid input") -> GraphQLError:
    """An error shaped like Linear's: message plus extensions code / type / userPresentableMessage."""
    return GraphQLError(message, extensions={"code": code, "type": kind, "userError": True,
                                             "userPresentableMessage": message})


def not_found(entity: str) -> GraphQLError:
    return api_error(f"Entity not found: {entity}", code="ENTITY_NOT_FOUND")


def unsupported(what: str) -> GraphQLError:
    return api_error(f"the Linear sandbox does not implement {what}", code="SANDBOX_UNSUPPORTED",
                     kind="other")


def resolve_field(source: Any, info: Any, **args: Any) -> Any:
    """Read a field from a view dict (calling it if it is a relation); refuse fields not modelled."""
    if not isinstance(source, dict) or info.field_name not in source:
        raise unsupported(f"{info.parent_type.name}.{info.field_name}")
    value = source[info.field_name]
    return value(info, **args) if callable(value) else value


# -- connections and filters ---------------------------------------------------------------

def connection(items: list[dict[str, Any]], args: dict[str, Any],
               view: Callable[[dict[str, Any]], View]) -> View:
    """A Relay connection over `items` (cursor = id) with first/after paging."""
    if args.get("last") is not None or args.get("before") is not None:
        raise unsupported("backward pagination (last/before)")
    if not args.get("includeArchived"):
        items = [i for i in items if not i.get("archivedAt")]
    start = 0
    if args.get("after"):
        ids = [i["id"] for i in items]
        if args["after"] not in ids:
            raise api_error("Invalid cursor")
        start = ids.index(args["after"]) + 1
    first = args.get("first")
    if first is None:
        first = 50
    if first < 0 or first > 250:
        raise api_error("first must be between 0 and 250")
    page = items[start:start + first]
    nodes = [view(i) for i in page]
    return {"nodes": nodes, "edges": [{"node": n, "cursor": n["id"]} for n in nodes],
            "pageInfo": {"hasNextPage": start + first < len(items), "hasPreviousPage": start > 0,
                         "startCursor": page[0]["id"] if page else None,
                         "endCursor": page[-1]["id"] if page else None}}


def compare(value: Any, comparator: dict[str, Any]) -> bool:
    """Linear's String/ID comparators (the operators the sandbox supports)."""
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda v, x: v == x, "neq": lambda v, x: v != x,
        "in": lambda v, x: v in x, "nin": lambda v, x: v not in x,
        "eqIgnoreCase": lambda v, x: str(v).casefold() == str(x).casefold(),
        "contains": lambda v, x: str(x) in str(v),
        "containsIgnoreCase": lambda v, x: str(x).casefold() in str(v).casefold(),
        "startsWith": lambda v, x: str(v).startswith(str(x)),
    }
    for op, operand in comparator.items():
        if op not in ops:
            raise unsupported(f"the comparator {op!r}")
        if operand is not None and not ops[op](value, operand):
            return False
    return True


def matches(obj: dict[str, Any], flt: dict[str, Any] | None,
            fields: dict[str, Callable[[dict[str, Any]], Any]],
            nested: dict[str, Callable[[dict[str, Any], dict[str, Any]], bool]] | None = None) -> bool:
    """Does `obj` pass `flt`? `fields` reads comparable values, `nested` evaluates sub-filters."""
    for key, sub in (flt or {}).items():
        if sub is None:
            continue
        if key in fields:
            if not compare(fields[key](obj), sub):
                return False
        elif nested and key in nested:
            if not nested[key](obj, sub):
                return False
        else:
            raise unsupported(f"filtering on {key!r}")
    return True
