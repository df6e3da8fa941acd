"""The JIRA sandbox, driven by the real `jira` library over HTTP on 127.0.0.1.

Each test pins one behaviour of real JIRA the connector depends on (or must survive): Cloud vs
Server search endpoints, lagging search, JIRA's 400 bodies per field, bulk partial failure.
"""

from __future__ import annotations

import json
from typing import Any, Iterator
from urllib.parse import parse_qs

import pytest
import requests
from jira import JIRA, JIRAError

from syncd.sandbox import specs
from syncd.sandbox.jira.sandbox import JiraSandbox
from tests.support.process import wait_for
from tests.support.records import jira_component_names

AUTH = ("bot@example.com", "jira-token")
MARK = "cogny-tkt_1234abcd"
ADF = {"type": "doc", "version": 1,
       "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Rich"}]}]}


@pytest.fixture
def sb() -> Iterator[JiraSandbox]:
    with JiraSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def server_sb() -> Iterator[JiraSandbox]:
    with JiraSandbox(deployment="Server", tokens={"pat-1"}) as sandbox:
        yield sandbox


def client(sb: JiraSandbox, **kwargs: Any) -> JIRA:
    auth: dict[str, Any] = {} if "token_auth" in kwargs else {"basic_auth": AUTH}
    return JIRA(server=sb.url, max_retries=0, **auth, **kwargs)


def task(**overrides: Any) -> dict[str, Any]:
    fields = {"project": {"key": "GROWTH"}, "issuetype": {"name": "Task"}, "summary": "Fix the funnel",
              "priority": {"name": "High"}, "labels": [MARK]}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def sub(parent: str, summary: str = "Step", **overrides: Any) -> dict[str, Any]:
    return task(issuetype={"name": "Sub-task"}, parent={"key": parent}, summary=summary, labels=None,
                **overrides)


def logged(sb: JiraSandbox, path: str, count: int) -> list[Any]:
    """Requests to `path` once `count` are in the log (the recorder logs just after answering)."""
    def hits() -> list[Any]:
        return [r for r in sb.log.all() if r.path == path]

    wait_for(lambda: len(hits()) >= count, interval=0.01, what=f"{count} request(s) to {path} in the log")
    return hits()


def post_issue(jira: JIRA, fields: dict[str, Any]) -> Any:
    """POST issue as is (create_issue() itself insists on project and issuetype keys)."""
    return jira._session.post(jira._get_url("issue"), data=json.dumps({"fields": fields}))


def rejected(call: Any) -> tuple[int | None, dict[str, Any]]:
    """Run a call that must fail; return JIRA's status code and error body."""
    with pytest.raises(JIRAError) as info:
        call()
    response = info.value.response
    try:
        return info.value.status_code, response.json()
    except ValueError:  # e.g. Cloud's plain-text 401
        return info.value.status_code, {"text": response.text}


def test_server_info_says_cloud_or_server(sb: JiraSandbox, server_sb: JiraSandbox) -> None:
    cloud, server = client(sb), client(server_sb, token_auth="pat-1")
    assert cloud.server_info()["deploymentType"] == "Cloud" and cloud._is_cloud
    assert server.server_info()["deploymentType"] == "Server" and not server._is_cloud
    assert server._version >= (8, 4, 0)  # new enough for the createmeta issuetypes API
    types = [t.name for t in server.project_issue_types("GROWTH")]
    assert types == ["Epic", "Task", "Sub-task", "Story", "Bug"]
    assert server.issue_type_by_name("Sub-task", project="GROWTH").subtask is True
    assert {p.name: p.id for p in cloud.priorities()}["High"] == "2"
    assert "Story Points" in {f["name"] for f in cloud.fields()}


def test_wrong_credentials_get_401(sb: JiraSandbox, server_sb: JiraSandbox) -> None:
    for bad in [dict(basic_auth=("bot@example.com", "wrong")),
                dict(basic_auth=("eve@example.com", "jira-token"))]:
        status, _ = rejected(lambda: JIRA(server=sb.url, max_retries=0, **bad))
        assert status == 401
    assert rejected(lambda: JIRA(server=server_sb.url, token_auth="nope", max_retries=0))[0] == 401
    assert client(server_sb, token_auth="pat-1").myself()["emailAddress"] == "bot@example.com"
    anonymous = requests.get(f"{sb.url}/rest/api/2/myself", timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["errorMessages"]
    assert requests.get(f"{sb.url}/rest/api/2/serverInfo", timeout=5).status_code == 200  # anonymous is fine


def test_create_issue_with_field_dicts(sb: JiraSandbox) -> None:
    jira = client(sb)
    first = jira.create_issue(fields=task(), prefetch=False)
    second = jira.create_issue(fields=task(summary="Second"), prefetch=False)
    assert (first.key, second.key) == ("GROWTH-1", "GROWTH-2") and first.id != second.id
    stored = sb.issue("GROWTH-1")
    assert (stored["priority"], stored["labels"], stored["status"], stored["issuetype"]) == \
        ("High", [MARK], "To Do", "Task")
    fetched = jira.issue(first.key)
    assert fetched.fields.priority.name == "High" and fetched.fields.status.statusCategory.key == "new"
    assert fetched.fields.resolution is None and fetched.fields.created
    assert [r.status for r in logged(sb, "/rest/api/2/issue", 2)] == [201, 201]


def test_bulk_subtasks_with_a_partial_failure(sb: JiraSandbox) -> None:
    jira = client(sb)
    parent = jira.create_issue(fields=task(), prefetch=False).key
    results = jira.create_issues([sub(parent, "One"), sub(parent, "Two", priority={"name": "Urgent"}),
                                  sub(parent, "Three")], prefetch=False)
    assert [r["status"] for r in results] == ["Success", "Error", "Success"]
    assert "priority" in results[1]["error"]
    kids = jira.issue(parent).fields.subtasks
    assert [k.fields.summary for k in kids] == ["One", "Three"]
    assert jira.issue(kids[0].key).fields.parent.key == parent
    assert [i["summary"] for i in sb.find(parent=parent)] == ["One", "Three"]


def test_bulk_where_everything_fails_is_a_400(sb: JiraSandbox) -> None:
    results = client(sb).create_issues([task(summary=""), task(labels=["a b"])], prefetch=False)
    assert [r["status"] for r in results] == ["Error", "Error"]
    assert "summary" in results[0]["error"] and "labels" in results[1]["error"]
    assert logged(sb, "/rest/api/2/issue/bulk", 1)[0].status == 400 and sb.count() == 0


def test_transition_by_name_and_status_helpers(sb: JiraSandbox) -> None:
    jira = client(sb)
    key = jira.create_issue(fields=task(), prefetch=False).key
    assert {t["name"]: t["id"] for t in jira.transitions(key)} == {"In Progress": "21", "Done": "31"}
    jira.transition_issue(key, "Done")
    done = jira.issue(key)
    assert done.fields.status.name == "Done" and done.fields.resolution.name == "Done"
    with pytest.raises(JIRAError, match="Invalid transition name"):
        jira.transition_issue(key, "Done")  # not offered from Done itself
    status, body = rejected(lambda: jira.transition_issue(key, "99"))
    assert status == 400 and "not valid" in body["errorMessages"][0]
    before = sb.issue(key)["updated"]
    sb.set_status(key, "In Progress")
    after = sb.issue(key)
    assert after["status"] == "In Progress" and after["resolution"] is None and after["updated"] > before
    assert sb.count() == 1 and sb.count("Sub-task") == 0


def test_update_fields_and_label_operations(sb: JiraSandbox) -> None:
    jira = client(sb)
    issue = jira.create_issue(fields=task(labels=[MARK, "old"]))
    issue.update(fields={"summary": "Renamed", "priority": {"name": "Low"}, "customfield_10016": 5})
    issue.update(update={"labels": [{"add": "new"}, {"remove": "old"}]})
    stored = sb.issue(issue.key)
    assert (stored["summary"], stored["priority"], stored["labels"]) == ("Renamed", "Low", [MARK, "new"])
    assert issue.fields.customfield_10016 == 5  # update() reloads the issue
    status, body = rejected(lambda: issue.update(fields={"status": {"name": "Done"}}))
    assert status == 400 and "cannot be set" in body["errors"]["status"]


def test_search_by_label_on_cloud_uses_search_jql(sb: JiraSandbox) -> None:
    jira = client(sb)
    for n in range(3):
        jira.create_issue(fields=task(summary=f"T{n}", labels=[MARK] if n != 1 else ["other"]),
                          prefetch=False)
    found = jira.search_issues(f'project = GROWTH AND labels = "{MARK}" ORDER BY created ASC',
                               fields="summary")
    assert [i.fields.summary for i in found] == ["T0", "T2"]
    ids_only = jira.enhanced_search_issues(f"labels = {MARK}", fields="", json_result=True)
    assert ids_only["issues"] == [{"id": "10002"}, {"id": "10000"}] and ids_only["isLast"] is True
    posted = jira.enhanced_search_issues(f"labels in ({MARK}, other)", fields="labels", use_post=True)
    assert len(posted) == 3
    assert {r.path for r in sb.log.all() if "search" in r.path} == {"/rest/api/2/search/jql"}
    assert not [r for r in sb.log.writes() if "search" in r.path]  # a POST search is a read


def test_cloud_paging_follows_next_page_token(sb: JiraSandbox) -> None:
    jira, sb.page_limit = client(sb), 2
    for n in range(5):
        jira.create_issue(fields=task(summary=f"T{n}"), prefetch=False)
    every = jira.enhanced_search_issues(f"labels = {MARK}", maxResults=False, fields="summary")
    assert [i.key for i in every] == [f"GROWTH-{n}" for n in (5, 4, 3, 2, 1)]
    assert len(logged(sb, "/rest/api/2/search/jql", 3)) == 3
    page = jira.enhanced_search_issues(f"labels = {MARK}", maxResults=2, fields="summary", json_result=True)
    again = {"jql": "labels = other", "nextPageToken": page["nextPageToken"]}
    status, body = rejected(lambda: jira._get_json("search/jql", params=again))
    assert status == 400 and "token" in body["errorMessages"][0]


@pytest.mark.parametrize("use_post", [False, True])
def test_server_search_pages_with_start_at(server_sb: JiraSandbox, use_post: bool) -> None:
    jira, server_sb.page_limit = client(server_sb, token_auth="pat-1"), 2
    for n in range(5):
        jira.create_issue(fields=task(summary=f"T{n}"), prefetch=False)
    found = jira.search_issues(f"labels = {MARK} ORDER BY key ASC", maxResults=False, fields="summary",
                               use_post=use_post)
    assert [i.key for i in found] == [f"GROWTH-{n}" for n in range(1, 6)] and found.total == 5
    searches = logged(server_sb, "/rest/api/2/search", 3)
    sent = [r.json() if use_post else {k: v[0] for k, v in parse_qs(r.query).items()} for r in searches]
    assert [int(params.get("startAt", 0)) for params in sent] == [0, 2, 4]
    assert requests.get(f"{server_sb.url}/rest/api/2/search/jql", params={"jql": "labels = x"},
                        headers={"Authorization": "Bearer pat-1"}, timeout=5).status_code == 404


def test_search_lags_behind_create_but_get_by_key_does_not() -> None:
    with JiraSandbox(search_lag=0.5) as lagging:
        jira = client(lagging)
        issue = jira.create_issue(fields=task(), prefetch=False)
        assert jira.search_issues(f"labels = {MARK}", fields="summary") == []
        assert jira.issue(issue.key).key == issue.key
        reconciled = jira.enhanced_search_issues(f"labels = {MARK}", fields="summary",
                                                 reconcileIssues=[int(issue.id)])
        assert [i.key for i in reconciled] == [issue.key]
        wait_for(lambda: jira.search_issues(f"labels = {MARK}", fields="summary"), interval=0.05,
                 what="the issue becoming searchable")


@pytest.mark.parametrize("version", ["2", "3"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_old_search_is_gone_on_cloud(sb: JiraSandbox, version: str, method: str) -> None:
    reply = requests.request(method, f"{sb.url}/rest/api/{version}/search", auth=AUTH, timeout=5,
                             **({"json": {"jql": "project = GROWTH"}} if method == "POST" else
                                {"params": {"jql": "project = GROWTH"}}))
    assert reply.status_code == 410 and "CHANGE-2046" in reply.json()["errorMessages"][0]


def _keys(jira: JIRA, query: str) -> list[str]:
    return [i["key"] for i in jira.enhanced_search_issues(query, fields="summary",
                                                          json_result=True)["issues"]]


def test_jql_subset(sb: JiraSandbox) -> None:
    jira = client(sb)
    # GROWTH-1
    epic = jira.create_issue(fields=task(issuetype={"name": "Epic"}, labels=["a"]), prefetch=False).key
    # GROWTH-2
    parent = jira.create_issue(fields=task(labels=["a", "b"], parent={"key": epic}), prefetch=False).key
    jira.create_issues([sub(parent, "S1"), sub(parent, "S2")], prefetch=False)  # GROWTH-3, GROWTH-4
    jira.transition_issue("GROWTH-4", "Done")
    assert _keys(jira, 'project = GROWTH AND labels in ("a", "b") ORDER BY key ASC') == [epic, parent]
    assert _keys(jira, "labels = a AND NOT labels = b") == [epic]
    assert _keys(jira, "key in (GROWTH-1, GROWTH-3) ORDER BY key ASC") == ["GROWTH-1", "GROWTH-3"]
    assert _keys(jira, "issuekey in (GROWTH-2) OR labels = a ORDER BY key DESC") == [parent, epic]
    assert _keys(jira, f"parent = {parent} ORDER BY key ASC") == ["GROWTH-3", "GROWTH-4"]
    assert _keys(jira, f"parent = {epic}") == [parent]
    assert _keys(jira, 'status = "Done"') == _keys(jira, "statusCategory = Done") == ["GROWTH-4"]
    assert _keys(jira, 'project = GROWTH AND updated >= "2000-01-01 10:00" AND updated < -1w') == []
    assert len(_keys(jira, "project = GROWTH AND created >= -1d")) == 4
    assert _keys(jira, "project = GROWTH AND issuetype = Sub-task AND status != Done") == ["GROWTH-3"]


def test_indexed_search_answers_like_a_full_scan_after_edits_and_deletes(sb: JiraSandbox) -> None:
    """Label and key look-ups narrow the search; results must stay those of evaluating every issue."""
    from syncd.sandbox.jira import jql

    jira = client(sb)
    for n in range(6):
        labels = [f"cogny-{n}", "Shared"] if n % 2 else [f"cogny-{n}"]
        jira.create_issue(fields=task(summary=f"T{n}", labels=labels), prefetch=False)
    queries = ['labels = "cogny-1"', "labels in (COGNY-2, cogny-3, nope)",
               "labels = shared AND key in (GROWTH-2)",
               "key in (GROWTH-1, 10002) OR labels = cogny-5", "labels = cogny-4 OR NOT labels = shared",
               "project = GROWTH AND labels in (cogny-0, shared) AND status != Done", "issuekey = growth-6"]
    _keys(jira, queries[0])  # the index is built here; everything below changes what it holds
    jira.issue("GROWTH-2").update(update={"labels": [{"add": "shared"}, {"remove": "cogny-1"}]})
    jira.issue("GROWTH-3").update(fields={"labels": ["cogny-1"]})
    jira.issue("GROWTH-4").delete()
    with sb.lock:
        sb.issues["GROWTH-5"]["labels"] = ["cogny-3"]  # changed behind the API's back
    jira.create_issue(fields=task(summary="late", labels=["cogny-2"]), prefetch=False)
    for query in queries:
        parsed = jql.parse(query)
        with sb.lock:
            every = sorted((i for i in sb.issues.values() if jql.matches(parsed.where, sb.record(i))),
                           key=lambda i: -int(i["id"]))
        assert _keys(jira, query) == [i["key"] for i in every], query
    assert _keys(jira, 'labels = "cogny-1"') == ["GROWTH-3"]
    assert _keys(jira, "labels in (COGNY-2, cogny-3, nope)") == ["GROWTH-7", "GROWTH-5"]


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_batched_marker_search_reads_every_page_and_answers_like_find(deployment: str) -> None:
    """`find_many` (one search per listing page) must be as thorough as `find` per ticket: an
    answer of "no issue" lets syncd create one, so every page of hits counts, labels match as
    JQL matches them, and the oldest of several issues with one marker wins."""
    from connectors.jira import JiraConnector, JiraSettings
    from syncd.models import Ticket

    with JiraSandbox(deployment=deployment, tokens={"pat-1"}) as server:
        server.page_limit = 2  # forces several pages per search
        jira = client(server)
        for n in range(5):
            jira.create_issue(fields=task(summary=f"T{n}", labels=[f"cogny-tkt_{n}"]), prefetch=False)
        jira.create_issue(fields=task(summary="older twin", labels=["cogny-tkt_9"]), prefetch=False)
        jira.create_issue(fields=task(summary="newer twin", labels=["COGNY-TKT_9"]), prefetch=False)
        tickets = [Ticket.parse({"id": tid, "title": "t", "category": "retention", "priority": "low",
                                 "status": "open"}) for tid in ("tkt_0", "tkt_3", "tkt_4", "tkt_7", "tkt_9")]
        conn = JiraConnector("jira", JiraSettings(url=server.url, token="pat-1", project="GROWTH"))
        try:
            found = conn.find_many(tickets)
            one_by_one = {t.id: conn.find(t) for t in tickets}
        finally:
            conn.close()
    assert found == one_by_one
    assert {tid: ref.key if ref else None for tid, ref in found.items()} == \
        {"tkt_0": "GROWTH-1", "tkt_3": "GROWTH-4", "tkt_4": "GROWTH-5", "tkt_7": None, "tkt_9": "GROWTH-6"}


@pytest.mark.parametrize("query, fragment", [
    ("assignee = currentUser()", "Field 'assignee' does not exist"),
    ("labels = ", "Expecting a value"),
    ("labels = a AND", "Expecting a field name"),
    ("project = NOPE", "does not exist for the field 'project'"),
    ("key = GROWTH-99", "does not exist for field 'key'"),
    ("labels ~ a", "not supported"),
    ('updated >= "yesterday"', "invalid"),
    ("ORDER BY key", "Unbounded"),
    ("labels = a ORDER BY rank", "Field 'rank' does not exist"),
])
def test_unsupported_or_invalid_jql_is_a_400(sb: JiraSandbox, query: str, fragment: str) -> None:
    status, body = rejected(lambda: client(sb).enhanced_search_issues(query, fields="summary"))
    assert status == 400 and fragment in body["errorMessages"][0], body


@pytest.mark.parametrize("overrides, field, fragment", [
    ({"project": None}, "project", "valid project"),
    ({"project": {"key": "NOPE"}}, "project", "valid project"),
    ({"issuetype": None}, "issuetype", "issue type"),
    ({"issuetype": {"name": "Incident"}}, "issuetype", "invalid"),
    ({"issuetype": {"id": "99999"}}, "issuetype", "invalid"),
    ({"summary": None}, "summary", "must specify a summary"),
    ({"summary": "  "}, "summary", "must specify a summary"),
    ({"summary": "x" * 256}, "summary", "less than 255"),
    ({"summary": "two\nlines"}, "summary", "newline"),
    ({"priority": {"name": "Urgent"}}, "priority", "Urgent"),
    ({"priority": {"id": "42"}}, "priority", "invalid"),
    ({"labels": ["has space"]}, "labels", "contains spaces"),
    ({"issuetype": {"name": "Sub-task"}}, "parent", "parent issue key or id not specified"),
    ({"parent": {"key": "GROWTH-404"}}, "parent", "Could not find issue"),
    ({"customfield_99999": "x"}, "customfield_99999",
     "Field 'customfield_99999' cannot be set. It is not on the appropriate screen, or unknown."),
    ({"customfield_10016": "three"}, "customfield_10016", "must be a number"),
    ({"description": {"type": "doc"}}, "description", "must be a string"),
])
def test_create_validation_names_the_field(sb: JiraSandbox, overrides: dict[str, Any], field: str,
                                           fragment: str) -> None:
    status, body = rejected(lambda: post_issue(client(sb), task(**overrides)))
    assert status == 400 and fragment in body["errors"][field], body
    assert sb.count() == 0


def test_parent_rules(sb: JiraSandbox) -> None:
    jira = client(sb)
    epic = jira.create_issue(fields=task(issuetype={"name": "Epic"}), prefetch=False).key
    story = jira.create_issue(fields=task(issuetype={"name": "Story"}, parent={"key": epic}),
                              prefetch=False).key
    subtask = jira.create_issue(fields=sub(story), prefetch=False).key
    for bad in (sub(subtask), task(parent={"key": story}),
                task(issuetype={"name": "Epic"}, parent={"key": epic})):
        status, body = rejected(lambda: jira.create_issue(fields=bad, prefetch=False))
        assert status == 400 and "parent" in body["errors"], body
    assert jira.issue(subtask).fields.parent.key == story and sb.count() == 3


def test_unknown_issue_is_a_404(sb: JiraSandbox) -> None:
    jira = client(sb)
    for call in (lambda: jira.issue("GROWTH-999"), lambda: jira.transitions("GROWTH-999"),
                 lambda: jira.remote_links("GROWTH-999")):
        status, body = rejected(call)
        assert status == 404
        assert body == {"errors": {},
                        "errorMessages": ["Issue does not exist or you do not have permission to see it."]}


def test_delete_needs_delete_subtasks_when_it_has_some(sb: JiraSandbox) -> None:
    jira = client(sb)
    parent = jira.create_issue(fields=task())
    jira.create_issues([sub(parent.key)], prefetch=False)
    assert rejected(lambda: jira._session.delete(jira._get_url(f"issue/{parent.key}")))[0] == 400
    parent.delete(deleteSubtasks=True)
    assert sb.count() == 0


def test_remote_link_upserts_by_global_id(sb: JiraSandbox) -> None:
    jira = client(sb)
    key = jira.create_issue(fields=task(), prefetch=False).key
    first = jira.add_remote_link(key, {"url": "https://app.cogny.com/t/1", "title": "Cogny"},
                                 globalId="cogny:tkt_1")
    again = jira.add_remote_link(key, {"url": "https://app.cogny.com/t/1?v=2", "title": "Cogny"},
                                 globalId="cogny:tkt_1")
    jira.add_remote_link(key, {"url": "https://example.com", "title": "Other"}, globalId="other")
    links = jira.remote_links(key)
    assert first.id == again.id and len(links) == 2
    assert {lk.globalId: lk.object.url for lk in links}["cogny:tkt_1"] == "https://app.cogny.com/t/1?v=2"
    status, body = rejected(lambda: jira.add_remote_link(key, {"url": "https://x"}, globalId="g"))
    assert status == 400 and "title" in body["errors"]


def test_v3_description_must_be_adf(sb: JiraSandbox) -> None:
    v3 = client(sb, options={"rest_api_version": "3"})
    status, body = rejected(lambda: v3.create_issue(fields=task(description="plain text"), prefetch=False))
    assert status == 400 and "Atlassian Document" in body["errors"]["description"]
    key = v3.create_issue(fields=task(description=ADF), prefetch=False).key
    assert v3.issue(key).raw["fields"]["description"] == ADF
    assert client(sb).issue(key).fields.description == "Rich"  # v2 shows wiki text
    wiki = client(sb).create_issue(fields=task(description="Line one\nLine two"), prefetch=False).key
    assert v3.issue(wiki).raw["fields"]["description"]["type"] == "doc"


def test_helpers_return_copies(sb: JiraSandbox) -> None:
    client(sb).create_issue(fields=task(), prefetch=False)
    copy = sb.issue("GROWTH-1")
    copy["labels"].append("mutated")
    assert sb.issue("GROWTH-1")["labels"] == [MARK]
    assert [i["key"] for i in sb.find(label=MARK, project="GROWTH")] == ["GROWTH-1"]
    assert sb.find(label="nope") == [] and sb.find(project="OTHER") == []
    with pytest.raises(ValueError):
        sb.set_status("GROWTH-1", "Closed")


def test_responses_match_the_published_spec(sb: JiraSandbox) -> None:
    import jsonschema

    spec = specs.document(specs.JIRA)

    def check(schema_name: str, instance: Any) -> None:
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(instance)]
        assert not errors, (schema_name, errors[:3])

    api = f"{sb.url}/rest/api/3/"
    get = lambda path: requests.get(api + path, auth=AUTH, timeout=5).json()  # noqa: E731
    created = requests.post(api + "issue", json={"fields": task(description=ADF)}, auth=AUTH,
                            timeout=5).json()
    check("CreatedIssue", created)
    updates = [{"fields": sub(created["key"])}, {"fields": {}}]
    bulk = requests.post(api + "issue/bulk", json={"issueUpdates": updates}, auth=AUTH, timeout=5).json()
    check("CreatedIssues", bulk)
    check("ErrorCollection", bulk["errors"][0]["elementErrors"])
    check("ServerInformation", get("serverInfo"))
    check("IssueBean", get(f"issue/{created['key']}?expand=names,transitions"))
    check("Transitions", get(f"issue/{created['key']}/transitions"))
    check("SearchAndReconcileResults", get("search/jql?jql=project=GROWTH&fields=*all"))
    check("Project", get("project/GROWTH"))
    check("PageOfCreateMetaIssueTypes", get("issue/createmeta/GROWTH/issuetypes"))
    for name, items in (("FieldDetails", get("field")), ("Priority", get("priority")),
                        ("IssueTypeWithStatus", get("project/GROWTH/statuses"))):
        for item in items:
            check(name, item)


# -- components (the connector's category_map) ------------------------------------------------------

def test_components_behave_as_jira(sb: JiraSandbox) -> None:
    jira = client(sb, options={"check_update": False})
    listed = jira.project_components("GROWTH")
    by_name = {c.name: c.id for c in listed}
    assert "Retention" in by_name and [c.name for c in jira.project("GROWTH").components] == list(by_name)
    fields = {"project": {"key": "GROWTH"}, "issuetype": {"name": "Task"}, "summary": "s"}
    issue = jira.create_issue(fields={**fields, "components": [{"name": "Retention"},
                                                               {"id": by_name["Revenue"]}]})
    assert [c.name for c in jira.issue(issue.key).fields.components] == ["Retention", "Revenue"]
    issue.update(update={"components": [{"remove": {"name": "Retention"}},
                                        {"add": {"id": by_name["Acquisition"]}}]})
    assert jira_component_names(sb, issue.key) == ["Acquisition", "Revenue"]
    for bad, message in (([{"name": "SEO"}], "Component name 'SEO' is not valid"),
                         ([{"id": "99"}], "Component with id '99' does not exist."),
                         ({"name": "Retention"}, "data was not an array"),
                         (["Retention"], "expected Object")):
        with pytest.raises(JIRAError) as exc:
            jira.create_issue(fields={**fields, "components": bad})
        assert exc.value.status_code == 400
        assert exc.value.response.json() == {"errorMessages": [], "errors": {"components": message}}
    assert sb.count() == 1
    jira.close()


def test_component_listing_matches_the_published_spec(sb: JiraSandbox) -> None:
    import jsonschema

    spec = specs.document(specs.JIRA)
    schema = {"$ref": "#/components/schemas/ProjectComponent", "components": spec["components"]}
    listed = requests.get(f"{sb.url}/rest/api/3/project/GROWTH/components", auth=AUTH, timeout=5).json()
    assert listed and all(not list(jsonschema.Draft7Validator(schema).iter_errors(c)) for c in listed)
