"""Helpers the tests share; fixtures live in the conftest.py files.

- `config`: the sandboxes' credentials and a syncd.yaml pointing at them (`write_config`).
- `process`: the real CLI as a subprocess (`run_cli`), free ports, bounded waiting (`wait_for`).
- `daemon`: `syncd run` as a subprocess (`Daemon`) and signed Cogny webhook events.
- `world`: Cogny plus any target sandboxes and a config for them (`world`), run-once until clean.
- `records`: what the target sandboxes hold per ticket, checked for exactly-once.
- `engine`: the real `Reconciler` on an SQLite store with `syncd.testing.InMemoryCogny`, for connector tests.
- `properties`: hypothesis strategies for arbitrary tickets, and the four built-in connectors.
- `postgres`: a throwaway PostgreSQL cluster (`PgCluster`).
- `receiver`: a webhook endpoint on 127.0.0.1 that records what it gets.
- `readme`: the README's connector plugin example, as files a test can import or install.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the repository
