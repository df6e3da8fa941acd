"""The admin listener's Starlette app: the console's pages, plus the routes the daemon adds
(/metrics, /-/reload, /-/webhooks/NAME), all behind `admin.auth` when it is set.

Every page is a plain GET that renders a Jinja2 template (autoescaped: ticket text is data). The
only writes are Retry and Retry all dead, POST forms with a CSRF token, offered only when
`admin.actions: true`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from syncd.config import Config
from syncd.console import pages
from syncd.console.access import CSRF_FIELD, Credentials, Csrf, RequireAuth, SecurityHeaders
from syncd.engine.routing import MATCH_KEYS
from syncd.redact import redact
from syncd.store import views
from syncd.store.database import Store
from syncd.store.inbox import Inbox
from syncd.store.schema import EVENT_STATES

HERE = Path(__file__).parent
FORM_BYTES = 2048  # a retry form holds a token and an id


@dataclass
class Sources:
    """What the console reads, asked for on every request so that a reload is seen at once."""

    engine: Callable[[], Engine]
    config: Callable[[], Config]
    credentials: Callable[[], Credentials | None]


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    # every {{ }} goes through redact: a secret that reached an error text is masked on the page too
    env.finalize = lambda value: value if isinstance(value, Markup) or not isinstance(value, str) \
        else redact(value)
    env.filters["ago"] = pages.ago
    env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S UTC") if d else "—"
    env.tests["web_url"] = lambda u: isinstance(u, str) and u.startswith(("https://", "http://"))
    return env


class Console:
    def __init__(self, sources: Sources, csrf: Csrf | None = None):
        self.sources = sources
        self.csrf = csrf or Csrf()
        self.env = environment()

    def app(self, extra: Sequence[BaseRoute] = ()) -> Starlette:
        routes: list[BaseRoute] = [
            Route("/", self.overview),
            Route("/tickets", self.tickets),
            Route("/tickets/{ticket_id}", self.ticket),
            Route("/tickets/{ticket_id}/forget", self.forget, methods=["POST"]),
            Route("/runs", self.runs),
            Route("/runs/{run_id:int}", self.run),
            Route("/events", self.events),
            Route("/events/retry", self.retry, methods=["POST"]),
            Route("/config", self.config),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            *extra,
        ]
        return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders),
                                                    Middleware(RequireAuth, creds=self.sources.credentials)])

    # -- pages -------------------------------------------------------------------------------
    async def overview(self, request: Request) -> Response:
        config = self.sources.config()
        data = await asyncio.to_thread(pages.overview, self.sources.engine(), config)
        return self.render("overview.html", request, **data)

    async def tickets(self, request: Request) -> Response:
        q = request.query_params.get("q", "")
        hits = await asyncio.to_thread(views.search_tickets, self.sources.engine(), q)
        if len(hits) == 1 and q.strip():
            return RedirectResponse(request.app.url_path_for("ticket", ticket_id=hits[0].ticket_id),
                                    status_code=303)
        return self.render("tickets.html", request, q=q, hits=hits)

    async def ticket(self, request: Request) -> Response:
        ticket_id = request.path_params["ticket_id"][:64]
        engine = self.sources.engine()

        def gather() -> dict[str, Any]:
            return {"records": views.ticket_records(engine, ticket_id),
                    "events": views.ticket_events(engine, ticket_id),
                    "failures": views.ticket_failures(engine, ticket_id)}

        data = await asyncio.to_thread(gather)
        status = 200 if data["records"] or data["events"] else 404
        return self.render("ticket.html", request, status=status, ticket_id=ticket_id, **data)

    async def runs(self, request: Request) -> Response:
        page = await asyncio.to_thread(views.runs_page, self.sources.engine(), _int(request, "before"))
        return self.render("runs.html", request, page=page)

    async def run(self, request: Request) -> Response:
        run_id, engine = request.path_params["run_id"], self.sources.engine()
        found = await asyncio.to_thread(views.run, engine, run_id)
        if found is None:
            return self.render("missing.html", request, status=404, what=f"run {run_id}")
        failures = await asyncio.to_thread(views.run_failures_page, engine, run_id, _int(request, "before"))
        return self.render("run.html", request, run=found, failures=failures)

    async def events(self, request: Request) -> Response:
        q = request.query_params
        filters = pages.event_filters(q.get("state", ""), q.get("type", ""), q.get("age", ""))
        engine = self.sources.engine()
        page = await asyncio.to_thread(pages.events_page, engine, filters, _int(request, "before"))
        depth = await asyncio.to_thread(views.inbox_depth, engine)
        return self.render("events.html", request, page=page, filters=filters, depth=depth,
                           states=EVENT_STATES, ages=pages.AGES, retried=q.get("retried"))

    async def config(self, request: Request) -> Response:
        config = self.sources.config()
        fields = {k: request.query_params.get(k, "") for k in MATCH_KEYS}
        tested = pages.route_test(config, fields) if any(fields.values()) else None
        return self.render("config.html", request, tree=pages.config_tree(config),
                           receives=pages.receives(config), routes=config.routes, fields=fields,
                           tested=tested)

    # -- the writes: retries and forgetting a record, behind admin.actions and a CSRF token ----
    async def retry(self, request: Request) -> Response:
        """Retry one event (`id`) or every dead one (`all_dead`): back to pending, attempts reset."""
        form = await self._action_form(request)
        if isinstance(form, Response):
            return form
        inbox = Inbox(self.sources.engine())
        raw_id = form.get("id", "")
        if raw_id.isdigit() and len(raw_id) < 19:
            count = await asyncio.to_thread(inbox.retry, [int(raw_id)])
        elif form.get("all_dead"):
            count = await asyncio.to_thread(inbox.retry, all_dead=True)
        else:
            count = 0
        return RedirectResponse(f"{request.app.url_path_for('events')}?state=dead&retried={count}",
                                status_code=303)

    async def forget(self, request: Request) -> Response:
        """Forget one ticket's record in one connector (`syncd links forget`): the next run looks for
        it afresh — finds it by its marker, or makes a new one when a person deleted it."""
        form = await self._action_form(request)
        if isinstance(form, Response):
            return form
        ticket_id = request.path_params["ticket_id"][:64]
        store = Store(self.sources.engine())
        link = await asyncio.to_thread(store.get_link, ticket_id, form.get("connector", ""))
        if link is not None:
            await asyncio.to_thread(store.restart_link, link)
        url = request.app.url_path_for("ticket", ticket_id=ticket_id)
        return RedirectResponse(f"{url}?forgot={'1' if link else '0'}", status_code=303)

    async def _action_form(self, request: Request) -> dict[str, str] | Response:
        """The posted form, or the refusal: actions off (admin.actions) or a missing or stale CSRF token."""
        if not self.sources.config().admin.actions:
            return self.render("missing.html", request, status=403,
                               what="actions (set admin.actions: true to act from the console)")
        form = await _form(request)
        if not self.csrf.check(request, form.get(CSRF_FIELD)):
            return self.render("missing.html", request, status=403,
                               what="this form (its CSRF token is missing or stale: reload the page)")
        return form

    def render(self, name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        config = self.sources.config()
        def url_for(route: str, **params: Any) -> str:
            return str(request.app.url_path_for(route, **params))

        html = self.env.get_template(name).render(
            request=request, url_for=url_for, page_name=name.split(".")[0], actions=config.admin.actions,
            csrf_field=CSRF_FIELD, csrf=self.csrf.token(), **context)
        return HTMLResponse(html, status_code=status)


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the retry buttons'), its first value per field; anything else is empty."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), max_num_fields=8).items()}


def _int(request: Request, key: str) -> int | None:
    value = request.query_params.get(key, "")
    return int(value) if value.isdigit() and len(value) < 19 else None
