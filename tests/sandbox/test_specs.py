"""The vendors' specs ship inside the package, byte-for-byte as SOURCES.md records them."""

from __future__ import annotations

import gzip
import hashlib
import re

import pytest

from syncd.sandbox import specs
from tests.support import ROOT

SPECS_DIR = ROOT / "syncd" / "sandbox" / "specs"


def recorded_digests() -> dict[str, str]:
    """file name -> sha256, from the table in SOURCES.md."""
    rows = re.findall(r"^\| `([^`]+)\.gz` \|.*\| `([0-9a-f]{64})` \|", (SPECS_DIR / "SOURCES.md").read_text(),
                      re.M)
    return dict(rows)


def test_sources_lists_every_vendored_spec_and_nothing_else() -> None:
    on_disk = sorted(p.name.removesuffix(".gz") for p in SPECS_DIR.glob("*.gz"))
    assert sorted(recorded_digests()) == on_disk == sorted(specs.NAMES)


@pytest.mark.parametrize("name", specs.NAMES)
def test_vendored_spec_matches_its_recorded_sha256(name: str) -> None:
    text = specs.text(name)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == recorded_digests()[name]
    packed = gzip.decompress((SPECS_DIR / f"{name}.gz").read_bytes())
    assert hashlib.sha256(packed).hexdigest() == recorded_digests()[name]


def test_documents_parse_and_are_loaded_once_per_process() -> None:
    asana = specs.document(specs.ASANA)
    assert asana["openapi"].startswith("3.") and "/tasks" in asana["paths"]
    assert "/rest/api/3/search/jql" in specs.document(specs.JIRA)["paths"]
    assert "/chat.postMessage" in specs.document(specs.SLACK)["paths"]
    assert "type Query" in specs.text(specs.LINEAR)
    assert specs.document(specs.ASANA) is asana


def test_unknown_spec_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no vendored specification"):
        specs.text("../../etc/passwd")


