"""Prometheus metrics: one registry for the process, one place that names them all."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

external_calls = Counter(
    "syncd_external_calls_total", "Outbound HTTP calls by service and status code (or error class).",
    ["service", "status"], registry=REGISTRY)
external_retries = Counter(
    "syncd_external_retries_total", "Outbound calls retried, by service and reason.",
    ["service", "reason"], registry=REGISTRY)
pacing_waits = Counter(
    "syncd_pacing_wait_seconds_total", "Seconds spent waiting on rate-limit headers, by service.",
    ["service"], registry=REGISTRY)
reconcile_outcomes = Counter(
    "syncd_reconcile_total", "Reconcile outcomes per connector (created, updated, unchanged, failed).",
    ["connector", "outcome"], registry=REGISTRY)
records_gone = Counter(
    "syncd_records_gone_total", "Records found deleted in a target (their links move to state gone).",
    ["connector"], registry=REGISTRY)
links = Gauge(
    "syncd_links", "Links per connector and state (synced, creating, gone), as of the last cycle.",
    ["connector", "state"], registry=REGISTRY)
writebacks = Counter(
    "syncd_writeback_total", "PATCHes of Cogny ticket notes, by outcome.", ["outcome"], registry=REGISTRY)
cycle_duration = Histogram(
    "syncd_cycle_duration_seconds", "Duration of a full poll cycle.", registry=REGISTRY,
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))
last_success = Gauge(
    "syncd_last_successful_cycle_timestamp_seconds", "Unix time the last cycle ended with no failure.",
    registry=REGISTRY)
events_received = Counter(
    "syncd_webhook_events_received_total", "Webhook events accepted (stored), by type.", ["type"],
    registry=REGISTRY)
events_rejected = Counter(
    "syncd_webhook_events_rejected_total", "Webhook requests refused, by reason.", ["reason"],
    registry=REGISTRY)
inbox_depth = Gauge(
    "syncd_inbox_events", "Inbox events by state.", ["state"], registry=REGISTRY)
syncback_reads = Counter(
    "syncd_syncback_records_read_total", "Linked records read back from a target, by connector and source "
    "(poll, webhook).", ["connector", "source"], registry=REGISTRY)
syncback_changes = Counter(
    "syncd_syncback_changes_total", "Changes carried back into Cogny, by connector and kind (status, "
    "item, dismiss, conflict_cogny_wins, conflict_target_wins).", ["connector", "kind"], registry=REGISTRY)
inbound_webhooks = Counter(
    "syncd_target_webhooks_total", "Webhook requests from targets, by connector and outcome (accepted, "
    "handshake, unknown_record, rejected_signature, stale, invalid).", ["connector", "outcome"],
    registry=REGISTRY)
syncback_last_poll = Gauge(
    "syncd_syncback_last_poll_timestamp_seconds", "Unix time the last sync-back poll of a connector ended "
    "without error.", ["connector"], registry=REGISTRY)
bulk_creates = Counter(
    "syncd_bulk_create_tickets_total",
    "Tickets a poll's bulk create handled, by connector and outcome (created; "
    "left: handed to the per-ticket reconcile after a failed, rejected or unanswered bulk call).",
    ["connector", "outcome"],
    registry=REGISTRY,
)
