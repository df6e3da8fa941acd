"""The sync engine: one poll cycle (`cycle`) and one ticket (`reconcile`), the same rules for both.

Data flows down: `cycle` lists pages and hands each to `plan` (pure: route, settle what needs no
work, look up markers), then `bulk` (create a page's new records together) and `reconcile` (one
ticket, every target, then its notes line via `notes`). `syncback` carries target progress back
into Cogny under the rules in `progress`. `app` wires connectors, the Cogny client and the store.
"""
