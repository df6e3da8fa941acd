"""In-process JIRA (Cloud or Server/DC) that the real `jira` library talks HTTP to.

The package splits it by concept, each module depending only on those listed before it:

- `wire.py`: `ApiError`, parameter checks and JIRA's timestamps, shared by every layer;
- `catalog.py`: the fixed instance configuration (issue types, workflow, priorities, fields);
- `adf.py`: Atlassian Document Format, v3's rich text; `render.py`: JIRA's JSON shapes;
- `fields.py`: validation of create/edit bodies; `jql.py`: the JQL subset;
- `hooks.py`: JIRA's webhooks; `state.py`: projects and issues and their rules (`JiraState`);
- `endpoint.py`: version, credentials and body checks around every handler;
- `meta.py`, `issues.py`, `links.py`, `search.py`: the endpoints;
- this module: `JiraSandbox`, the state served on the route table below.

Tests drive it with `jira.JIRA(server=sb.url, ...)` and inspect it with the helpers of `JiraState`.
"""

from __future__ import annotations

from starlette.routing import Route

from syncd.sandbox.jira import issues, links, meta, search
from syncd.sandbox.jira.catalog import ISSUE_TYPES, PRIORITIES, RESOLUTIONS, STATUSES, field_list
from syncd.sandbox.jira.endpoint import Handler, endpoint
from syncd.sandbox.jira.state import JiraState
from syncd.sandbox.jira.wire import ApiError

__all__ = ["JiraSandbox", "ApiError"]


class JiraSandbox(JiraState):
    """A faithful stand-in for JIRA's REST API v2/v3 (issues, transitions, links, JQL search).

    Knobs (`deployment`, `search_lag`, `page_limit`, users and tokens): see `JiraState`.
    """

    def routes(self) -> list[Route]:
        table: list[tuple[str, str, Handler]] = [
            ("GET", "myself", meta.myself), ("GET", "field", lambda c: (200, field_list())),
            ("GET", "priority", lambda c: (200, [c.render.priority(p) for p in PRIORITIES])),
            ("GET", "priority/{id}", meta.priority_one), ("GET", "project", meta.projects),
            ("GET", "resolution", lambda c: (200, [c.render.resolution(n) for n in RESOLUTIONS])),
            ("GET", "resolution/{id}", meta.resolution_one),
            ("GET", "project/{project}", meta.project),
            ("GET", "project/{project}/statuses", meta.project_statuses),
            ("GET", "project/{project}/components",
             lambda c: (200, c.render.components(meta.project_for(c)))),
            ("GET", "issuetype", lambda c: (200, [c.render.issuetype(n) for n in ISSUE_TYPES])),
            ("GET", "issuetype/{id}", meta.issuetype_one),
            ("GET", "status", lambda c: (200, [c.render.status(s) for s in STATUSES])),
            ("GET", "issue/createmeta/{project}/issuetypes", meta.createmeta_types),
            ("GET", "issue/createmeta/{project}/issuetypes/{id}", meta.createmeta_fields),
            ("POST", "issue", issues.create_issue), ("POST", "issue/bulk", issues.create_issues),
            ("GET", "issue/{key}", issues.get_issue), ("PUT", "issue/{key}", issues.edit_issue),
            ("DELETE", "issue/{key}", issues.delete_issue),
            ("GET", "issue/{key}/transitions", issues.get_transitions),
            ("POST", "issue/{key}/transitions", issues.do_transition),
            ("GET", "issue/{key}/remotelink", links.get_links),
            ("POST", "issue/{key}/remotelink", links.upsert_link),
            ("GET", "issue/{key}/remotelink/{link}", links.get_link),
            ("PUT", "issue/{key}/remotelink/{link}", links.put_link),
            ("DELETE", "issue/{key}/remotelink/{link}", links.delete_link),
            ("GET", "issue/{key}/comment", issues.get_comments),
            ("POST", "issue/{key}/comment", issues.add_comment),
            ("GET", "search", search.legacy_search), ("POST", "search", search.legacy_search),
            ("GET", "search/jql", search.cloud_search), ("POST", "search/jql", search.cloud_search),
        ]
        routes = [Route("/rest/api/{version}/serverInfo", endpoint(self, meta.server_info, anonymous=True),
                        methods=["GET"])]
        routes += [Route(f"/rest/api/{{version}}/{path}", endpoint(self, fn), methods=[method])
                   for method, path, fn in table]
        routes.append(Route("/rest/applinks/latest/listApplicationlinks",
                            endpoint(self, meta.applinks), methods=["GET"]))
        return routes
