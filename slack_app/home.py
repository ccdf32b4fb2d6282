"""The App Home tab as a member would see it now, read from the store.

Slack keeps the last view an app published until it publishes another: the listener publishes
it whenever the tab is opened, and an erasure publishes it again for everyone whose tab may
still show the person (their approvals' assignees and the managers: `slack_redact_messages`),
so no tab keeps an erased lead's address and subject until its owner happens to look again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.approvals import list_approvals
from slack_app.blocks.home import home_view

if TYPE_CHECKING:
    from agent.policy import Member
    from service.runtime import AppRuntime


def home_for(rt: AppRuntime, member: Member | None) -> dict[str, Any]:
    """The Home tab of `member` (None: someone not on the roster)."""
    if member is None:
        return home_view(None, [], rt.clock.now())
    mine = list_approvals(rt, status="pending", assignee=member.key)
    team = list_approvals(rt, status="pending") if member.role == "manager" else None
    return home_view(member.name, mine, rt.clock.now(), team=team)


def viewers_after_erasure(rt: AppRuntime, assignees: list[str]) -> list[Member]:
    """Members whose Home tab may show an erased person: their approvals' assignees and every
    manager (the team queue), each once; those without a Slack id have no tab we can reach."""
    found = [rt.roster.find(key) for key in assignees]
    found += [m for m in rt.roster.members if m.role == "manager"]
    unique = {m.slack_id: m for m in found if m is not None and m.slack_id}
    return list(unique.values())
