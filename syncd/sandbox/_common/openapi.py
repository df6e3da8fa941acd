"""Check request bodies against a vendor's published OpenAPI 3.0 document, strictly.

A sandbox should accept only what the real service accepts. Vendors publish their request
schemas as OpenAPI 3.0, which is *almost* JSON Schema: `$ref`s into `components`, `allOf`
composition, `nullable`, `readOnly`, and objects that allow unknown properties by default.
`OpenAPI.request_validator(method, path)` turns one operation's JSON request body into a
plain JSON Schema (refs resolved, `allOf` merged into one object so that unknown properties
can be refused, `nullable` as a `null` type, read-only properties unwritable) and
`problems(...)` reports each violation as one `field: message` line, the way APIs word it.

Any sandbox can use it: `spec = load_spec(specs.ASANA)`; `spec.problems("POST", "/tasks", body)`.
The documents are vendored in `syncd.sandbox.specs`; each is parsed once per process.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Iterable

import jsonschema

from syncd.sandbox import specs

_PASSTHROUGH = ("format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
                "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "multipleOf",
                "minProperties", "maxProperties")
READ_ONLY = {"not": {}, "x-read-only": True}  # a property a request may not set
_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array",
               dict: "object", type(None): "null"}


@functools.cache
def load_spec(name: str) -> "OpenAPI":
    """The vendored OpenAPI document `name` (one of `specs.NAMES`), parsed once per process."""
    return OpenAPI(specs.document(name))


class OpenAPI:
    """One OpenAPI 3.0 document, with strict request-body validators built on demand."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self._validators: dict[tuple[str, str], jsonschema.protocols.Validator | None] = {}

    def with_overrides(self, overrides: dict[str, Any]) -> "OpenAPI":
        """A copy with the nodes at these JSON pointers replaced (for known errors in a vendor's spec).

        Only the dicts along each pointer are copied, so the cached original stays untouched.
        """
        doc = dict(self.doc)
        for pointer, value in overrides.items():
            parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("#/").split("/")]
            node: Any = doc
            for part in parts[:-1]:
                child = node[int(part)] if isinstance(node, list) else node[part]
                child = list(child) if isinstance(child, list) else dict(child)
                if isinstance(node, list):
                    node[int(part)] = child
                else:
                    node[part] = child
                node = child
            if isinstance(node, list):
                node[int(parts[-1])] = copy.deepcopy(value)
            else:
                node[parts[-1]] = copy.deepcopy(value)
        return OpenAPI(doc)

    # -- schemas ---------------------------------------------------------------------------
    def resolve(self, ref: str) -> Any:
        """The node a local `#/...` reference points at."""
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, not {ref!r}")
        node: Any = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def request_schema(self, method: str, path: str) -> dict[str, Any] | None:
        """The operation's `application/json` request body as strict JSON Schema (None: no body)."""
        operation = self.doc["paths"][path][method.lower()]
        body = operation.get("requestBody")
        if body is None:
            return None
        if "$ref" in body:
            body = self.resolve(body["$ref"])
        media = body.get("content", {}).get("application/json")
        if media is None or "schema" not in media:
            return None
        schema: dict[str, Any] = self.to_json_schema(media["schema"], writing=True)
        return schema

    def to_json_schema(self, node: Any, *, writing: bool, _refs: tuple[str, ...] = ()) -> Any:
        """Translate an OpenAPI schema node into JSON Schema (strict about unknown properties)."""
        node, _refs = self._flatten(node, _refs)
        if not isinstance(node, dict):
            return node
        if writing and node.get("readOnly"):
            return dict(READ_ONLY)
        out: dict[str, Any] = {k: node[k] for k in _PASSTHROUGH if k in node}
        kind = node.get("type") or ("object" if "properties" in node else None)
        nullable = bool(node.get("nullable"))
        if kind:
            out["type"] = [kind, "null"] if nullable else kind
        if "enum" in node:
            out["enum"] = list(node["enum"]) + ([None] if nullable and None not in node["enum"] else [])
        for key in ("oneOf", "anyOf"):
            if key in node:
                out[key] = [self.to_json_schema(n, writing=writing, _refs=_refs) for n in node[key]]
        if "items" in node:
            out["items"] = self.to_json_schema(node["items"], writing=writing, _refs=_refs)
        if "properties" in node:
            out["properties"] = {name: self.to_json_schema(sub, writing=writing, _refs=_refs)
                                 for name, sub in node["properties"].items()}
            required = [r for r in node.get("required", []) if out["properties"].get(r) != READ_ONLY]
            if required:
                out["required"] = required
        if "additionalProperties" in node:
            extra = node["additionalProperties"]
            out["additionalProperties"] = extra if isinstance(extra, bool) else \
                self.to_json_schema(extra, writing=writing, _refs=_refs)
        elif "properties" in node:
            out["additionalProperties"] = False
        return out

    def _flatten(self, node: Any, refs: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
        """Resolve `$ref` chains and merge `allOf` parts into one schema node."""
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in refs:  # a recursive schema: accept anything below this point
                return {}, refs
            refs = (*refs, ref)
            node = self.resolve(ref)
        if not isinstance(node, dict) or "allOf" not in node:
            return node, refs
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            flat, _ = self._flatten(part, refs)
            _merge_into(merged, flat)
        return merged, refs

    # -- validation ------------------------------------------------------------------------
    def request_validator(self, method: str, path: str) -> jsonschema.protocols.Validator | None:
        key = (method.upper(), path)
        if key not in self._validators:
            schema = self.request_schema(method, path)
            self._validators[key] = None if schema is None else jsonschema.Draft7Validator(
                schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
        return self._validators[key]

    def problems(self, method: str, path: str, body: Any) -> list[str]:
        """Every way `body` breaks the operation's request schema, as `field: message` lines."""
        validator = self.request_validator(method, path)
        if validator is None:
            return []
        errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
        return list(dict.fromkeys(line for error in errors for line in describe(error)))


def _merge_into(merged: dict[str, Any], part: Any) -> None:
    """Merge one flattened `allOf` part: properties and `required` add up, later keywords win."""
    if not isinstance(part, dict):
        return
    for key, value in part.items():
        if key == "properties":
            merged.setdefault("properties", {})
            merged["properties"] = {**merged["properties"], **value}
        elif key == "required":
            merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
        elif key not in ("description", "example"):
            merged[key] = value


def field_path(parts: Iterable[Any]) -> str:
    """`data.projects[0]` from a jsonschema error path."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(error: jsonschema.ValidationError) -> list[str]:
    """One error as API-style lines: `data.colour: Unknown field`, `data.name: Expected string`."""
    where = list(error.absolute_path)
    at = field_path(where) or "body"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        return [f"{field_path([*where, name])}: Unknown field"
                for name in error.instance if name not in known]
    if isinstance(error.schema, dict) and error.schema.get("x-read-only"):
        return [f"{at}: Cannot write this read-only field"]
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, str) else \
            " or ".join(error.validator_value)
        return [f"{at}: Expected {wanted}, got {_JSON_TYPES.get(type(error.instance), 'value')}"]
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        return [f"{field_path([*where, missing])}: Missing input"]
    if error.validator == "enum":
        return [f"{at}: Not one of {', '.join(map(str, error.validator_value))}"]
    return [f"{at}: {error.message}"]
