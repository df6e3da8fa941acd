"""Atlassian Document Format: the rich text of REST v3, and how v2's wiki text maps to and from it.

A description or comment written through one API version reads back through the other as JIRA
shows it: v2 sees ADF flattened to wiki markup, v3 sees wiki text wrapped as ADF paragraphs.
"""

from __future__ import annotations

from typing import Any

ADF_MESSAGE = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


def is_adf(value: Any) -> bool:
    """A v3 rich-text value: a `doc` node (version 1) whose nodes all have a type and proper content."""
    return (isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1
            and _adf_nodes_ok(value.get("content", [])))


def _adf_nodes_ok(nodes: Any) -> bool:
    if not isinstance(nodes, list):
        return False
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            return False
        if node["type"] == "text" and not isinstance(node.get("text"), str):
            return False
        if "content" in node and not _adf_nodes_ok(node["content"]):
            return False
    return True


def adf_to_wiki(doc: dict[str, Any]) -> str:
    """Flatten ADF to wiki markup (what v2 shows for a description written through v3)."""
    return "\n\n".join(_adf_block(node) for node in doc.get("content", []))


def _adf_block(node: dict[str, Any]) -> str:
    kind = node.get("type")
    inner = "".join(_adf_inline(child) for child in node.get("content", []))
    if kind == "heading":
        return f"h{node.get('attrs', {}).get('level', 1)}. {inner}"
    if kind in ("bulletList", "orderedList"):
        mark = "*" if kind == "bulletList" else "#"
        return "\n".join(f"{mark} {_adf_block(item)}" for item in node.get("content", []))
    if kind == "listItem":
        return " ".join(_adf_block(child) for child in node.get("content", []))
    return inner


def _adf_inline(node: dict[str, Any]) -> str:
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    return "".join(_adf_inline(child) for child in node.get("content", []))


def wiki_to_adf(text: str) -> dict[str, Any]:
    """Wrap wiki text as ADF paragraphs (what v3 shows for a description written through v2)."""
    paragraphs = []
    for block in text.split("\n\n"):
        content: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}
