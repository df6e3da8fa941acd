"""What a record's hash is: SHA-256 of its canonical JSON (sorted keys, no spaces, ASCII).

Stores hold these hashes: "unchanged" means "same hash as applied last time", so the serialization
is pinned byte for byte here. Each expected value is the SHA-256 of a JSON text written out by hand,
never the output of `digest` itself; a change to the canonical form would make every record of
every existing store look changed (one update per record on the next poll).
"""

from __future__ import annotations

import hashlib
from datetime import date

from syncd.sdk import Desired
from syncd.sdk.connector import digest


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_digest_is_sha256_of_sorted_compact_json() -> None:
    assert digest({"b": [1, 2], "a": 1}) == sha('{"a":1,"b":[1,2]}')
    assert digest({"a": {"z": None, "y": True}}) == sha('{"a":{"y":true,"z":null}}')
    assert digest([]) == sha("[]") and digest("x") == sha('"x"')


def test_digest_does_not_depend_on_key_order() -> None:
    assert digest({"a": 1, "b": {"c": 2, "d": 3}}) == digest({"b": {"d": 3, "c": 2}, "a": 1})


def test_digest_writes_non_ascii_as_escapes_and_other_values_as_their_text() -> None:
    assert digest({"t": "é"}) == sha('{"t":"\\u00e9"}')
    assert digest({"d": date(2025, 1, 2)}) == sha('{"d":"2025-01-02"}')


def test_desired_hash_covers_the_record_and_every_item() -> None:
    d = Desired({"summary": "S"}, {"One": {"done": False}})
    assert d.hash() == sha('{"items":{"One":{"done":false}},"record":{"summary":"S"}}')
    assert Desired({"summary": "S"}).hash() == sha('{"items":{},"record":{"summary":"S"}}')
    assert Desired({"summary": "S"}, {"One": {"done": True}}).hash() != d.hash()
    assert Desired({"summary": "T"}, {"One": {"done": False}}).hash() != d.hash()


def test_item_hash_is_the_digest_of_that_item_alone() -> None:
    d = Desired({"summary": "S"}, {"One": {"done": False, "title": "One"}, "Two": {"done": True}})
    assert d.item_hash("One") == sha('{"done":false,"title":"One"}')
    assert d.item_hash("Two") == sha('{"done":true}')
