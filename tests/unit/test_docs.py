"""The README's reference and config.example.yaml cannot drift from the config models."""

from __future__ import annotations

import re
from typing import Any, Iterator

from pydantic import BaseModel

from syncd.config import Config
from syncd.sdk.connector import available_types
from tests.support import ROOT

INTERNAL = {"connector_settings", "source"}


def keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every key a user can set in `model`."""
    for name, field in model.model_fields.items():
        if name in INTERNAL:
            continue
        path = f"{prefix}{name}"
        subs = list(_models(field.annotation))
        if not subs:
            yield path  # leaves only: a section is documented through its keys
        for sub in subs:
            yield from keys(sub, path + ".")


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _models(arg)


def all_keys() -> list[str]:
    from syncd.config import ConnectorEntry

    out = [k for k in keys(Config) if not k.startswith("connectors.")]
    out += [f"connectors.NAME.{k}" for k in keys(ConnectorEntry)]
    for type_name, ep in sorted(available_types().items()):
        out += [f"connectors.{type_name}.{k}" for k in keys(ep.load().Settings)]
    return out


def test_every_config_key_is_in_the_readme_reference() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [k for k in all_keys() if f"`{k.rsplit('.', 1)[-1]}`" not in readme
               and f".{k.rsplit('.', 1)[-1]}`" not in readme]
    assert not missing, f"README.md does not document: {missing}"


def test_every_config_key_is_in_config_example() -> None:
    example = (ROOT / "config.example.yaml").read_text()
    present = set(re.findall(r"^\s*-?\s*([a-z_]+):", example,
                             flags=re.M)) | set(re.findall(r"[{,]\s*([a-z_]+):", example))
    missing = [k for k in all_keys() if k.rsplit(".", 1)[-1] not in present]
    assert not missing, f"config.example.yaml does not show: {missing}"
