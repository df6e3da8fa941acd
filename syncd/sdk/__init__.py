"""Everything a connector author needs, in one place: `from syncd.sdk import ...`.

A connector is a class with `name`, a pydantic `Settings` model and the methods of `Connector`
(render, find, create, update, ...). It renders a ticket into a `Desired` record, answers with
`ExternalRef`s, reports children made before a failure with `PartialItems`, and a record a
person deleted in the target with `RecordGone` (never for an outage or a lost permission). Settings inherit
`MappingSettings` (templates, effort and assignee maps) and validate URLs with `http_url`;
renderings use `Renderer` (sandboxed Jinja2 with the target's escaping) and the helpers in
`render`. Cogny's enums come from the model (`Priority`/`PRIORITIES`, `Status`/`STATUSES`); `Category`
here is a target's state category for sync-back. Connectors that carry progress back implement
`SyncBackSource` (mixin `SyncsBack`).
Outbound HTTP goes through `syncd.http` (the one retry policy). Nothing else of syncd is needed;
`syncd.testing` has an in-memory connector and Cogny for plugin tests.
"""

from syncd.errors import ConnectorError, PartialItems, RecordGone, TicketDataError
from syncd.models import PRIORITIES, STATUSES, ActionItem, Priority, Status, Ticket, is_ticket_id, safe_url
from syncd.redact import redact, register_basic_auth
from syncd.redact import register as register_secret
from syncd.sdk import render
from syncd.sdk.connector import (
    BatchCreator,
    BatchFinder,
    Check,
    Connector,
    Desired,
    ExternalRef,
    Previews,
    digest,
)
from syncd.sdk.settings import MappingSettings, adopt_children, http_url
from syncd.sdk.syncback import (
    Category,
    Delivery,
    RemoteState,
    SyncBackSource,
    SyncsBack,
    latest,
    parse_time,
    signed_json,
)
from syncd.sdk.templates import (
    FieldValue,
    Raw,
    Renderer,
    check_unique_titles,
    check_value,
    identity,
    json_string,
    render_fields,
)

__all__ = [
    "PRIORITIES", "STATUSES", "ActionItem", "BatchCreator", "BatchFinder", "Category", "Check", "Connector",
    "ConnectorError", "Delivery", "Desired", "ExternalRef", "FieldValue", "MappingSettings", "PartialItems",
    "Previews", "Priority", "Raw", "RecordGone", "RemoteState", "Renderer", "Status", "SyncBackSource",
    "SyncsBack", "Ticket",
    "TicketDataError", "adopt_children", "check_unique_titles", "check_value", "digest", "http_url",
    "identity", "is_ticket_id", "json_string", "latest", "parse_time", "redact", "register_basic_auth",
    "register_secret", "render", "render_fields", "safe_url", "signed_json",
]
