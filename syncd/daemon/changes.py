"""What a reload changed, as dotted config keys: logged after SIGHUP, values never (they may be secrets)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from syncd.config import Config

MAX_KEYS = 40  # a rewritten file lists its sections, not every leaf


def changed_keys(old: Config, new: Config) -> list[str]:
    """Keys whose value differs between two configs (connector settings included), sorted."""
    out: list[str] = []
    _diff(_tree(old), _tree(new), "", out)
    out.sort()
    if len(out) > MAX_KEYS:
        out = sorted({".".join(k.split(".")[:2]) for k in out})
    return out


def _tree(config: Config) -> dict[str, Any]:
    # python mode keeps SecretStr objects, which compare by their value and are never printed here
    doc = config.model_dump(exclude={"connectors"})
    doc["connectors"] = {name: {**entry.model_dump(exclude_none=False),
                                **_settings(config.connector_settings.get(name))}
                         for name, entry in config.connectors.items()}
    return doc


def _settings(settings: Any) -> dict[str, Any]:
    return settings.model_dump() if isinstance(settings, BaseModel) else {}


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(where)
            else:
                _diff(a[key], b[key], where, out)
    elif a != b:
        out.append(path or "(top level)")
