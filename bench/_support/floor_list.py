"""The no-op floor: a fresh Python that only fetches the list pages a no-op `syncd run-once` reads.

`python floor_list.py BASE_URL API_KEY` — every page of `GET /tickets?status=open,in_progress`
(100 per page, following `next_cursor`, each body parsed as JSON, as syncd does), then the one
sweep listing of the other statuses updated in the last hour. No store, no config, no rendering:
what any client must spend to read those pages, start-up included. Prints the pages read.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

import httpx


def main() -> None:
    base, key = sys.argv[1].rstrip("/"), sys.argv[2]
    since = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pages = 0
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        listings = ({"status": "open,in_progress"}, {"status": "completed,dismissed", "updated_after": since})
        for params in listings:
            cursor = None
            while True:
                query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
                body = client.get("/tickets", params=query).raise_for_status().json()
                pages += 1
                pagination = body.get("pagination") or {}
                cursor = pagination.get("next_cursor")
                if not pagination.get("has_more") or not cursor:
                    break
    print(pages)


if __name__ == "__main__":
    main()
