"""The vendors' published API specifications, vendored as gzip package data (origins in SOURCES.md).

The sandboxes accept only what the real services accept, so they check requests against these
documents. They ship inside the package (a clone or `pip install` needs nothing beside it) and
are decompressed and parsed lazily, once per process: the four together are ~8 MB of text.
"""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources
from typing import Any

import yaml

__all__ = ["ASANA", "JIRA", "LINEAR", "SLACK", "NAMES", "text", "document"]

ASANA = "asana_oas.yaml"
JIRA = "jira_swagger_v3.json"
LINEAR = "linear_schema.graphql"
SLACK = "slack_web_openapi_v2.json"
NAMES = (ASANA, JIRA, LINEAR, SLACK)


@functools.cache
def text(name: str) -> str:
    """The specification's text, decompressed once per process."""
    if name not in NAMES:
        raise ValueError(f"no vendored specification named {name!r} (have: {', '.join(NAMES)})")
    data = resources.files(__name__).joinpath(name + ".gz").read_bytes()
    return gzip.decompress(data).decode("utf-8")


@functools.cache
def document(name: str) -> dict[str, Any]:
    """The specification parsed from JSON or YAML (not for the GraphQL schema), once per process."""
    parsed: dict[str, Any]
    if name.endswith(".json"):
        parsed = json.loads(text(name))
        return parsed
    if name.endswith(".yaml"):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        parsed = yaml.load(text(name), Loader=loader)  # noqa: S506 - a safe loader
        return parsed
    raise ValueError(f"{name} is not a JSON or YAML document")
