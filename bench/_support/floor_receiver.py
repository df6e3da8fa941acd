"""The ingest floor: a minimal durable webhook receiver on syncd's own stack, and nothing else.

`python floor_receiver.py PORT DB SECRET` serves POST /webhooks/cogny on 127.0.0.1 with Starlette
and uvicorn (the h11 parser, as syncd's listener uses): check X-Cogny-Signature (HMAC-SHA256 of
the body, constant-time compare), parse the JSON, insert the event once (`INSERT OR IGNORE` on
its id) into SQLite in WAL mode with synchronous=NORMAL (syncd's store settings), commit, 202.
No logging, metrics, limits, deadlines, dedup cache or worker: what any receiver that keeps an
event durably before answering must spend. syncd's accept path is compared with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def app(db_path: str, secret: str) -> Starlette:
    db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, type TEXT NOT NULL, "
               "body BLOB NOT NULL, received_at REAL NOT NULL)")
    key = secret.encode()

    async def receive(request: Request) -> Response:
        body = await request.body()
        given = request.headers.get("x-cogny-signature", "")
        if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).hexdigest(), given):
            return Response(status_code=401)
        try:
            event = json.loads(body)
            event_id, kind = str(event["id"]), str(event["type"])
        except (ValueError, KeyError, TypeError):
            return Response(status_code=400)
        db.execute("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?)", (event_id, kind, body, time.time()))
        return Response(status_code=202)

    return Starlette(routes=[Route("/webhooks/cogny", receive, methods=["POST"])])


def main() -> None:
    port, db_path, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    uvicorn.run(app(db_path, secret), host="127.0.0.1", port=port, http="h11", log_level="warning",
                access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
