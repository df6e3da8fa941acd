"""The sandboxes' OpenAPI 3 request-body validation (syncd.sandbox._common.openapi)."""

from __future__ import annotations

from syncd.sandbox._common.openapi import OpenAPI


def test_openapi_checks_follow_openapi_3_semantics() -> None:
    """refs, allOf merged before refusing unknown fields, nullable, readOnly, recursion, errata overrides."""
    doc = {"paths": {"/things": {"post": {"requestBody": {"content": {"application/json": {"schema": {
        "type": "object", "properties": {"data": {"$ref": "#/components/schemas/ThingRequest"}}}}}}}}},
        "components": {"schemas": {
            "Base": {"type": "object", "properties": {"gid": {"type": "string", "readOnly": True},
                                                      "name": {"type": "string"}}},
            "ThingRequest": {"allOf": [{"$ref": "#/components/schemas/Base"}, {
                "type": "object", "required": ["name"],
                "properties": {"due": {"type": "string", "nullable": True, "enum": ["a", "b"]},
                               "parent": {"$ref": "#/components/schemas/ThingRequest"}}}]}}}}
    spec = OpenAPI(doc)
    assert spec.problems("POST", "/things", {"data": {"name": "a", "due": None, "parent": {"any": 1}}}) == []
    assert spec.problems("POST", "/things", {"data": {"gid": "1", "due": "c", "x": 1}}) == [
        "data.name: Missing input", "data.x: Unknown field", "data.due: Not one of a, b, None",
        "data.gid: Cannot write this read-only field"]
    patched = spec.with_overrides({"#/components/schemas/Base/properties/name": {"type": "integer"}})
    assert patched.problems("POST", "/things",
                            {"data": {"name": "a"}}) == ["data.name: Expected integer, got string"]
    assert spec.problems("POST", "/things", {"data": {"name": "a"}}) == []  # the original is untouched
