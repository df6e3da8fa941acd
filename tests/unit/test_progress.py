"""The sync-back rules (syncd.progress.decide): what a target's state means for the Cogny ticket."""

from __future__ import annotations

from datetime import datetime

import pytest

from syncd.config import SyncBackConfig, _default_status_map
from syncd.engine.progress import decide, is_news
from syncd.models import Ticket
from syncd.sdk.syncback import CATEGORIES, RemoteState
from syncd.store.observed import Observed

MAP = _default_status_map()
KEYS = {"sub-1": "Write the copy", "sub-2": "Ship it"}


def ticket(status: str = "open", done: tuple[bool, bool] = (False, False),
           updated: str = "2026-11-01T10:00:00Z") -> Ticket:
    return Ticket.parse({
        "id": "tkt_1", "title": "Fix checkout", "category": "conversion_optimization", "priority": "high",
        "status": status, "updated_at": updated,
        "action_items": [{"title": "Write the copy", "completed": done[0]},
                         {"title": "Ship it", "completed": done[1]}]})


def state(category: str = "todo", items: tuple[str, str] = ("todo", "todo"),
          at: str = "2026-11-01T12:00:00+00:00", detail: str = "") -> RemoteState:
    return RemoteState("10001", category, datetime.fromisoformat(at), {"sub-1": items[0], "sub-2": items[1]},
                       detail)


def seen(category: str = "todo", items: tuple[str, str] = ("todo", "todo"),
         cogny: str | None = "open") -> Observed:
    return Observed(category, {"sub-1": items[0], "sub-2": items[1]}, "2026-11-01T09:00:00+00:00", cogny)


def test_the_config_knows_every_category_the_connectors_speak() -> None:
    assert set(SyncBackConfig.model_fields["status_map"].annotation.__args__[0].__args__) == set(CATEGORIES)


def test_a_subtask_done_completes_its_action_item_and_moves_the_ticket_in_progress() -> None:
    plan = decide(ticket(), seen(), state(items=("done", "todo")), KEYS, MAP)
    assert plan.items == {"Write the copy": True}
    assert plan.status == "in_progress" and not plan.dismiss


def test_every_subtask_done_completes_the_ticket() -> None:
    plan = decide(ticket("in_progress", (True, False)), seen(items=("done", "todo"), cogny="in_progress"),
                  state(items=("done", "done")), KEYS, MAP)
    assert plan.items == {"Ship it": True}
    assert plan.status == "completed"


def test_the_issue_done_completes_the_ticket() -> None:
    assert decide(ticket(), seen(), state("done"), KEYS, MAP).status == "completed"


@pytest.mark.parametrize("category", ["canceled", "deleted"])
def test_canceled_or_deleted_dismisses(category: str) -> None:
    status_map = {**MAP, "deleted": "dismissed"}  # `deleted` is mapped only when asked for
    plan = decide(ticket("in_progress"), seen(cogny="in_progress"), state(category), KEYS, status_map)
    assert plan.dismiss and plan.status is None


def test_dismissed_in_cogny_is_final() -> None:
    plan = decide(ticket("dismissed"), seen(cogny="dismissed"), state("done", ("done", "done")), KEYS, MAP)
    assert plan.empty


def test_reopened_in_the_target_moves_a_completed_ticket_back_in_progress() -> None:
    plan = decide(ticket("completed", (True, True)), seen("done", ("done", "done"), cogny="completed"),
                  state("todo", ("done", "done")), KEYS, MAP)
    assert plan.status == "in_progress"


def test_a_reopened_subtask_uncompletes_its_item_and_the_ticket() -> None:
    plan = decide(ticket("completed", (True, True)), seen("done", ("done", "done"), cogny="completed"),
                  state("done", ("done", "todo")), KEYS, MAP)
    assert plan.items == {"Ship it": False}
    assert plan.status == "in_progress"


def test_no_news_no_plan_even_when_cogny_differs() -> None:
    """Cogny was reopened by a person; the target still shows what syncd saw last: nothing flows back."""
    before = seen("done", ("done", "done"), cogny="completed")
    now = state("done", ("done", "done"))
    assert not is_news(before, now)
    assert decide(ticket("in_progress", (True, True)), before, now, KEYS, MAP).empty


def test_an_echo_of_syncds_own_change_writes_nothing() -> None:
    """syncd moved the issue to Done because Cogny is completed; reading it back changes nothing."""
    plan = decide(ticket("completed", (True, True)), seen("todo", ("done", "done"), cogny="completed"),
                  state("done", ("done", "done")), KEYS, MAP)
    assert plan.empty


def test_first_sight_carries_progress_but_never_a_step_back() -> None:
    assert decide(ticket(), None, state("done"), KEYS, MAP).status == "completed"
    assert decide(ticket("completed", (True, True)), None, state("todo"), KEYS, MAP).empty
    assert decide(ticket("in_progress", (True, False)), None, state("in_progress", ("todo", "todo")), KEYS,
                  MAP).empty


def test_conflict_goes_to_the_newer_side() -> None:
    before = seen("in_progress", cogny="in_progress")  # since then: Cogny → open, target → done
    target_newer = decide(ticket("open", updated="2026-11-01T11:00:00Z"), before,
                          state("done", at="2026-11-01T12:00:00+00:00"), KEYS, MAP)
    assert target_newer.status == "completed" and "target is newer" in (target_newer.conflict or "")
    cogny_newer = decide(ticket("open", updated="2026-11-01T13:00:00Z"), before,
                         state("done", at="2026-11-01T12:00:00+00:00"), KEYS, MAP)
    assert cogny_newer.status is None and "Cogny is newer" in (cogny_newer.conflict or "")


def test_the_status_map_is_the_users() -> None:
    custom = {"in_progress": "in_progress", "done": "in_progress"}  # "done in JIRA still needs review"
    assert decide(ticket(), seen(), state("done"), KEYS, custom).status == "in_progress"
    assert decide(ticket(), seen(), state("canceled"), KEYS, custom).empty


def test_children_syncd_did_not_make_are_ignored() -> None:
    now = RemoteState("10001", "todo", None, {"someone-elses": "done"})
    assert decide(ticket(), Observed("todo", {}), now, KEYS, MAP).empty


def test_an_item_reopened_beats_a_parent_that_syncd_itself_closed() -> None:
    # syncd closed the issue when the ticket completed; a person then reopens one sub-task
    plan = decide(ticket("completed", (True, True)), seen("todo", ("done", "done"), cogny="completed"),
                  state("done", ("todo", "done")), KEYS, MAP)
    assert plan.items == {"Write the copy": False}
    assert plan.status == "in_progress" and not plan.from_parent


def test_only_a_status_the_parent_itself_shows_counts_as_shown() -> None:
    assert decide(ticket(), seen(), state("done"), KEYS, MAP).from_parent
    derived = decide(ticket("in_progress", (True, False)), seen(items=("done", "todo"), cogny="in_progress"),
                     state(items=("done", "done")), KEYS, MAP)
    assert derived.status == "completed" and not derived.from_parent  # the parent issue is still open
