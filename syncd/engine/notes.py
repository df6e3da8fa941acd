"""Write-back: the ticket's notes keep the user's text and gain one line per linked connector."""

from __future__ import annotations

from typing import Iterable


def line_for(label: str, key: str | None, url: str | None) -> str:
    """`Synced to JIRA: GROWTH-12 https://…/browse/GROWTH-12`."""
    return f"Synced to {label}: " + " ".join(part for part in (key, url) if part)


def merge(notes: str | None, wanted: Iterable[str], stale: Iterable[str] = ()) -> str:
    """Notes with every `wanted` line present once, `stale` lines (our own old ones) removed.

    Everything else — the user's text, in its order — is kept as is.
    """
    wanted = list(dict.fromkeys(wanted))
    drop = set(stale) - set(wanted)
    lines = (notes or "").splitlines()
    kept: list[str] = []
    seen: set[str] = set()
    for line in lines:
        if line in drop:
            continue
        if line in wanted:
            if line in seen:
                continue  # a second copy of our line: never keep two
            seen.add(line)
        kept.append(line)
    missing = [line for line in wanted if line not in seen]
    if missing:
        while kept and not kept[-1].strip():
            kept.pop()
        if kept and kept[-1] not in seen:
            kept.append("")  # one blank line between the user's text and our block
        kept.extend(missing)
    return "\n".join(kept)
