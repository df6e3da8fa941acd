"""What the Slack sandbox accepts in a message: Block Kit checks and the methods' argument lists.

Block Kit is validated minimally but honestly, with the limits Slack documents (checked against
docs.slack.dev's block reference): at most 50 blocks; known block types only; text objects are
`plain_text` or `mrkdwn` with 1..3000 characters; a header's text is plain_text of at most 150
characters; a section needs `text` (≤ 3000) or `fields` (≤ 10, each ≤ 2000); a button's text is
plain_text ≤ 75, its url ≤ 3000, value ≤ 2000, action_id ≤ 255 and unique in its block;
block_id ≤ 255 and unique in the message. Block types we do not check deeply are still accepted,
as Slack would. Each problem is reported as Slack does: `message [json-pointer:/blocks/0/text]`.

Beside those, Slack refuses a message whose blocks hold too much text in all, with
`msg_blocks_too_long`: undocumented, about 12,000 characters of text "with a buffer for block
containers" by Slack's engineers' account (slackapi/bolt-js#2509; rejections were reported from
~11,300 characters of text, #2867). The sandbox sums every `text` string in the blocks and refuses
more than `MAX_BLOCKS_TEXT`; a client that keeps clear of it (under ~10,500) is safe with Slack too.
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
MAX_BLOCKS_TEXT = 12_000  # msg_blocks_too_long beyond (see the module docstring)
KNOWN_BLOCKS = frozenset({"section", "header", "divider", "context", "actions", "image", "rich_text",
                          "input", "file", "video", "markdown"})
INTERACTIVE = frozenset({"button", "checkboxes", "datepicker", "datetimepicker", "image",
                         "multi_static_select", "multi_users_select", "multi_conversations_select",
                         "multi_channels_select", "overflow", "radio_buttons", "static_select",
                         "users_select", "conversations_select", "channels_select", "external_select",
                         "multi_external_select", "timepicker", "workflow_button", "plain_text_input",
                         "email_text_input", "url_text_input", "number_input", "rich_text_input",
                         "file_input"})

# Arguments of chat.postMessage / chat.update in slack_web_openapi_v2.json (a 2020 snapshot), plus
# `metadata`, which Slack documents today but the spec predates. tests/test_slack.py checks these
# against the spec file. Real Slack ignores unknown arguments; the sandbox rejects them so a typo
# or an argument Slack never had fails loudly in tests instead of being silently dropped.
POST_MESSAGE_ARGS = frozenset({
    "token", "as_user", "attachments", "blocks", "channel", "icon_emoji", "icon_url", "link_names", "mrkdwn",
    "parse", "reply_broadcast", "text", "thread_ts", "unfurl_links", "unfurl_media", "username", "metadata"})
DELETE_ARGS = frozenset({"token", "as_user", "channel", "ts"})
UPDATE_ARGS = frozenset({
    "token", "as_user", "attachments", "blocks", "channel", "link_names", "parse", "text", "ts", "metadata"})


def validate_blocks(blocks: Any) -> list[str]:
    """Problems with a message's `blocks` array (empty when Slack would accept it)."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict):
            errors.append(f"must be an object [json-pointer:{where}]")
            continue
        kind = block.get("type")
        if kind not in KNOWN_BLOCKS:
            errors.append(f"unsupported type: {kind} [json-pointer:{where}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            errors += _string(block_id, 255, f"{where}/block_id")
            if block_id in block_ids:
                errors.append(f"duplicate block_id [json-pointer:{where}/block_id]")
            block_ids.add(block_id)
        errors += _CHECKS.get(kind, _any)(block, where)
    return errors


def blocks_text_length(node: Any) -> int:
    """Characters of every `text` string anywhere in the blocks (what `msg_blocks_too_long` counts)."""
    if isinstance(node, list):
        return sum(blocks_text_length(item) for item in node)
    if not isinstance(node, dict):
        return 0
    own = len(node["text"]) if isinstance(node.get("text"), str) else 0
    return own + sum(blocks_text_length(value) for value in node.values() if isinstance(value, (dict, list)))


def _any(block: dict[str, Any], where: str) -> list[str]:
    return []


def _header(block: dict[str, Any], where: str) -> list[str]:
    return (_unknown(block, {"type", "block_id", "text"}, where)
            + _text(block.get("text"), f"{where}/text", 150, plain_only=True, required=True))


def _section(block: dict[str, Any], where: str) -> list[str]:
    errors = _unknown(block, {"type", "block_id", "text", "fields", "accessory", "expand"}, where)
    if "text" not in block and "fields" not in block:
        errors.append(f"must provide either text or fields [json-pointer:{where}]")
    if "text" in block:
        errors += _text(block["text"], f"{where}/text", 3000, required=True)
    if "fields" in block:
        fields = block["fields"]
        if not isinstance(fields, list) or not fields:
            errors.append(f"must be a non-empty array [json-pointer:{where}/fields]")
        else:
            if len(fields) > 10:
                errors.append(f"no more than 10 items allowed [json-pointer:{where}/fields]")
            for j, field in enumerate(fields):
                errors += _text(field, f"{where}/fields/{j}", 2000, required=True)
    if "accessory" in block:
        errors += _element(block["accessory"], f"{where}/accessory", set())
    return errors


def _context(block: dict[str, Any], where: str) -> list[str]:
    errors = _unknown(block, {"type", "block_id", "elements"}, where)
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
        return errors + [f"must be an array of 1 to 10 items [json-pointer:{where}/elements]"]
    for j, element in enumerate(elements):
        if isinstance(element, dict) and element.get("type") == "image":
            continue
        errors += _text(element, f"{where}/elements/{j}", 3000, required=True)
    return errors


def _actions(block: dict[str, Any], where: str) -> list[str]:
    errors = _unknown(block, {"type", "block_id", "elements"}, where)
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
        return errors + [f"must be an array of 1 to 25 items [json-pointer:{where}/elements]"]
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        errors += _element(element, f"{where}/elements/{j}", action_ids)
    return errors


def _divider(block: dict[str, Any], where: str) -> list[str]:
    return _unknown(block, {"type", "block_id"}, where)


def _element(element: Any, where: str, action_ids: set[str]) -> list[str]:
    """An interactive element; buttons are checked in full, the others for a known type."""
    if not isinstance(element, dict) or element.get("type") not in INTERACTIVE:
        kind = element.get("type") if isinstance(element, dict) else None
        return [f"unsupported type: {kind} [json-pointer:{where}/type]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None:
        errors += _string(action_id, 255, f"{where}/action_id")
        if action_id in action_ids:
            errors.append(f"duplicate action_id [json-pointer:{where}/action_id]")
        action_ids.add(action_id)
    if element["type"] != "button":
        return errors
    errors += _unknown(element, {"type", "text", "action_id", "url", "value", "style", "confirm",
                                 "accessibility_label"}, where)
    errors += _text(element.get("text"), f"{where}/text", 75, plain_only=True, required=True)
    for key, limit in (("url", 3000), ("value", 2000), ("accessibility_label", 75)):
        if key in element:
            errors += _string(element[key], limit, f"{where}/{key}")
    if "style" in element and element["style"] not in ("primary", "danger"):
        errors.append(f"must be one of primary, danger [json-pointer:{where}/style]")
    return errors


def _text(obj: Any, where: str, limit: int, *, plain_only: bool = False, required: bool = False) -> list[str]:
    """A text object: {type: plain_text|mrkdwn, text, emoji (plain_text), verbatim (mrkdwn)}."""
    if obj is None:
        return [f"must be provided [json-pointer:{where}]"] if required else []
    if not isinstance(obj, dict):
        return [f"must be a text object [json-pointer:{where}]"]
    kind = obj.get("type")
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if kind not in allowed:
        return [f"must be {' or '.join(allowed)} [json-pointer:{where}/type]"]
    extra = {"emoji"} if kind == "plain_text" else {"verbatim"}
    errors = _unknown(obj, {"type", "text"} | extra, where)
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return errors + [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(text) > limit:
        errors.append(f"must be less than {limit + 1} characters [json-pointer:{where}/text]")
    return errors


def _string(value: Any, limit: int, where: str) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"must be a non-empty string [json-pointer:{where}]"]
    if len(value) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}]"]
    return []


def _unknown(obj: dict[str, Any], allowed: set[str], where: str) -> list[str]:
    return [f"unknown property {key!r} [json-pointer:{where}/{key}]" for key in sorted(set(obj) - allowed)]


_CHECKS = {"header": _header, "section": _section, "context": _context, "actions": _actions,
           "divider": _divider}
