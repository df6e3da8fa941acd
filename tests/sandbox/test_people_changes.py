"""What people do in the targets' own apps, as the sandboxes reproduce it for the real clients:
JIRA deletes an issue with its sub-tasks and moves one to another project (same id, new key, the old
key still answers); Slack deletes a message (`chat.delete`, then `message_not_found`) or a channel;
Linear puts a deleted issue in the trash; Asana deletes a task and its subtasks."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import httpx
import pytest
from jira import JIRA, JIRAError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from syncd.sandbox.asana.sandbox import AsanaSandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.sandbox.linear.sandbox import LinearSandbox
from syncd.sandbox.slack.sandbox import SlackSandbox

CHANNEL = "C0GROWTH"


@pytest.fixture
def jira_sb() -> Iterator[JiraSandbox]:
    with JiraSandbox(projects=("GROWTH", "OTHER")) as sb:
        yield sb


def _jira(sb: JiraSandbox) -> JIRA:
    return JIRA(server=sb.url, basic_auth=("bot@example.com", "jira-token"), max_retries=0)


def _issue_with_subtask(j: JIRA) -> tuple[Any, Any]:
    parent = j.create_issue(fields={"project": {"key": "GROWTH"}, "issuetype": {"name": "Task"},
                                    "summary": "Fix the funnel", "labels": ["cogny-tkt_1"]})
    child = j.create_issue(fields={"project": {"key": "GROWTH"}, "issuetype": {"name": "Sub-task"},
                                   "parent": {"key": parent.key}, "summary": "Step one"})
    return parent, child


def test_jira_delete_needs_delete_subtasks_and_then_answers_404(jira_sb: JiraSandbox) -> None:
    j = _jira(jira_sb)
    parent, child = _issue_with_subtask(j)
    with pytest.raises(JIRAError) as refused:
        j._session.delete(j._get_url(f"issue/{parent.key}"))
    assert refused.value.status_code == 400 and "deleteSubtasks" in str(refused.value.text)

    j._session.delete(j._get_url(f"issue/{parent.key}"), params={"deleteSubtasks": "true"})
    for gone in (parent.key, parent.id, child.key):
        with pytest.raises(JIRAError) as missing:
            j.issue(gone)
        assert missing.value.status_code == 404
    assert j.project("GROWTH").key == "GROWTH"  # the project is still there: a deletion, not lost access


def test_a_moved_jira_issue_keeps_its_id_and_the_old_key_still_finds_it(jira_sb: JiraSandbox) -> None:
    j = _jira(jira_sb)
    parent, child = _issue_with_subtask(j)
    new_key = jira_sb.move_issue(parent.key, "OTHER")
    assert new_key == "OTHER-1"

    for ref in (parent.key, parent.id, new_key):
        found = j.issue(ref, fields="summary,subtasks")
        assert (found.id, found.key) == (parent.id, new_key)
    assert [s.key for s in found.fields.subtasks] == ["OTHER-2"]  # sub-tasks move with their parent
    assert j.issue(child.key).key == "OTHER-2"
    j.issue(parent.key).update(fields={"summary": "Edited through the old key"})
    assert jira_sb.issue(new_key)["summary"] == "Edited through the old key"
    hits = j.search_issues('labels = "cogny-tkt_1" ORDER BY created ASC')  # no project clause
    assert [i.key for i in hits] == [new_key]


@pytest.fixture
def slack_sb() -> Iterator[SlackSandbox]:
    with SlackSandbox() as sb:
        yield sb


def _slack_error(call: Callable[[], Any]) -> str:
    with pytest.raises(SlackApiError) as err:
        call()
    return str(err.value.response["error"])


def test_slack_chat_delete_then_update_answers_message_not_found(slack_sb: SlackSandbox) -> None:
    web = WebClient(token="xoxb-sandbox", base_url=slack_sb.url + "/api/")
    posted = web.chat_postMessage(channel=CHANNEL, text="hello")
    human = slack_sb.add_message(CHANNEL, "from a person")
    assert _slack_error(lambda: web.chat_delete(channel=CHANNEL, ts=human)) == "cant_delete_message"

    assert web.chat_delete(channel=CHANNEL, ts=posted["ts"])["ts"] == posted["ts"]
    assert (
        _slack_error(lambda: web.chat_update(channel=CHANNEL, ts=posted["ts"], text="x"))
        == "message_not_found"
    )
    assert [m["ts"] for m in slack_sb.messages(CHANNEL)] == [human]


def test_slack_a_message_or_channel_deleted_by_an_admin(slack_sb: SlackSandbox) -> None:
    web = WebClient(token="xoxb-sandbox", base_url=slack_sb.url + "/api/")
    posted = web.chat_postMessage(channel=CHANNEL, text="hello")
    slack_sb.delete_message(CHANNEL, posted["ts"])
    assert (
        _slack_error(lambda: web.chat_update(channel=CHANNEL, ts=posted["ts"], text="x"))
        == "message_not_found"
    )

    again = web.chat_postMessage(channel=CHANNEL, text="again")
    slack_sb.delete_channel(CHANNEL)
    assert (
        _slack_error(lambda: web.chat_update(channel=CHANNEL, ts=again["ts"], text="x"))
        == "channel_not_found"
    )


def _graphql(sb: LinearSandbox, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{sb.url}/graphql", headers={"Authorization": "lin_api_sandbox"},
                        json={"query": query, "variables": variables})
    body: dict[str, Any] = answer.json()
    return body


def test_linear_a_deleted_issue_is_in_the_trash_and_still_answers() -> None:
    with LinearSandbox() as sb:
        team = next(iter(sb.teams))
        made = _graphql(
            sb,
            "mutation($input: IssueCreateInput!) { issueCreate(input: $input) { issue { id identifier } } }",
            {"input": {"teamId": team, "title": "Fix the funnel"}},
        )
        issue = made["data"]["issueCreate"]["issue"]
        sb.remove_issue(issue["identifier"])

        update = "mutation($id: String!, $input: IssueUpdateInput!) { issueUpdate(id: $id, input: $input) " \
                 "{ issue { id trashed archivedAt } } }"
        answer = _graphql(sb, update, {"id": issue["id"], "input": {"title": "Still editable in the trash"}})
        shown = answer["data"]["issueUpdate"]["issue"]
        assert shown["trashed"] is True and shown["archivedAt"]
        missing = _graphql(
            sb, update, {"id": "00000000-0000-4000-8000-000000000000", "input": {"title": "x"}}
        )
        assert missing["errors"][0]["extensions"]["code"] == "ENTITY_NOT_FOUND"


def test_asana_a_deleted_task_and_its_subtasks_answer_404() -> None:
    with AsanaSandbox() as sb:
        url, auth = f"{sb.url}/api/1.0", {"Authorization": "Bearer asana-sandbox"}
        parent = sb.add_task("Fix the funnel")
        child = httpx.post(f"{url}/tasks/{parent}/subtasks", headers=auth,
                           json={"data": {"name": "Step one"}}).json()["data"]["gid"]
        assert httpx.delete(f"{url}/tasks/{parent}", headers=auth).status_code == 200
        for gid in (parent, child):
            assert (
                httpx.put(f"{url}/tasks/{gid}", headers=auth, json={"data": {"name": "x"}}).status_code == 404
            )
        assert httpx.get(f"{url}/projects/{sb.project_gid}", headers=auth).status_code == 200
