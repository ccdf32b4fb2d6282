"""A sales handoff's status changes only through `service.lifecycle.transition()`: the table
allows the flow the graph takes, refuses everything else, and the code writes no status the table
does not know."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest
from sqlalchemy import select, update

from service import lifecycle
from service.lifecycle import (
    ALLOWED,
    HANDOFF_START,
    HANDOFF_STATUS_AFTER,
    ApprovalStatus,
    HandoffStatus,
    IllegalTransition,
    transition,
)
from store.tables import Approval, Decision, Handoff, OutboxMessage
from tests.flow import decide, pending_card

ROOT = Path(__file__).resolve().parents[2]
SURFACES = ("agent", "tools", "service", "evals", "reports", "slack_app", "api", "bench", "hitl")
HANDOFF_TABLE = ALLOWED[HandoffStatus]


def _reachable(start: HandoffStatus) -> set[HandoffStatus]:
    seen, todo = {start}, [start]
    while todo:
        for after in HANDOFF_TABLE.get(todo.pop(), set()):
            if after not in seen:
                seen.add(after)
                todo.append(after)
    return seen


def test_the_flow_the_graph_takes_is_allowed_and_every_status_is_reachable() -> None:
    # first card; each decision; a redraft brings it back; approved and rejected runs close.
    path = [HANDOFF_START, HandoffStatus.AWAITING_APPROVAL, HandoffStatus.REVISING,
            HandoffStatus.AWAITING_APPROVAL, HandoffStatus.ESCALATED,
            HandoffStatus.AWAITING_APPROVAL, HandoffStatus.REASSIGNED,
            HandoffStatus.AWAITING_APPROVAL, HandoffStatus.APPROVED, HandoffStatus.CLOSED]
    for current, target in zip(path, path[1:], strict=False):
        assert transition(current.value, target) == target.value
    assert transition("drafting", HandoffStatus.CLOSED) == "closed"  # not qualified / erased
    for action, after in HANDOFF_STATUS_AFTER.items():
        assert transition("awaiting_approval", after) == after.value, action
    assert _reachable(HANDOFF_START) == set(HandoffStatus)
    for status in HandoffStatus:  # no dead end: every run can still finish
        assert HandoffStatus.CLOSED in _reachable(status), status
    assert HandoffStatus.CLOSED not in HANDOFF_TABLE  # closed is final


@pytest.mark.parametrize(("current", "target"), [
    ("closed", HandoffStatus.AWAITING_APPROVAL),   # a finished run never reopens
    ("closed", HandoffStatus.APPROVED),
    ("approved", HandoffStatus.REVISING),         # decided once: no second decision
    ("rejected", HandoffStatus.APPROVED),
    ("drafting", HandoffStatus.APPROVED),         # no decision without a card
    ("awaiting_approval", HandoffStatus.CLOSED),  # a card waiting is never closed unseen
    ("revising", HandoffStatus.APPROVED),
    ("pending", HandoffStatus.CLOSED),            # an approval's word, not a handoff's
])
def test_an_illegal_handoff_transition_is_refused(current: str, target: HandoffStatus) -> None:
    with pytest.raises(IllegalTransition):
        transition(current, target)


def test_a_decision_on_a_handoff_in_the_wrong_state_is_refused_and_nothing_recorded(
        client, worker, rt) -> None:
    card = pending_card(client, worker)
    with rt.db.session() as session:  # something moved it behind the lifecycle's back
        session.execute(update(Handoff).where(Handoff.lead_id == card["lead_id"])
                        .values(status=HandoffStatus.REJECTED.value))

    with pytest.raises(IllegalTransition, match="rejected -> approved"):
        decide(client, card["approval_id"], action="approve", actor="U0REP0001")

    with rt.db.read() as session:  # the whole decision rolled back: nothing to send
        assert session.get(Approval, card["approval_id"]).status == ApprovalStatus.PENDING
        assert session.scalar(select(Decision.id)) is None
        assert session.scalar(select(OutboxMessage.id)) is None


def test_a_waiting_card_is_not_closed_by_a_stray_close(client, worker, rt) -> None:
    from service.handoffs import close_handoff

    card = pending_card(client, worker)
    with rt.db.read() as session:
        handoff_id = session.scalar(select(Handoff.id).where(Handoff.lead_id == card["lead_id"]))
    with pytest.raises(IllegalTransition, match="awaiting_approval -> closed"):
        close_handoff(rt, handoff_id, "sent")
    with rt.db.read() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff.active and handoff.status == HandoffStatus.AWAITING_APPROVAL


def test_the_sla_rescue_moves_the_handoff_to_reassigned_until_the_new_card_opens(
        client, worker, rt, clock) -> None:
    from service.rescue import check_sla
    from service.worker import Worker

    card = pending_card(client, worker)
    sla = rt.policy.sla["hand_raise"].minutes
    timers_only = Worker(rt, threads=1, handlers={"sla_check": check_sla})
    try:
        for _ in range(2):  # reminded, then reassigned
            clock.advance(minutes=sla + 1)
            timers_only.run_until_idle()
    finally:
        timers_only.stop()

    def handoff_status() -> str:
        with rt.db.read() as session:
            return session.scalar(select(Handoff.status).where(
                Handoff.lead_id == card["lead_id"]))

    assert handoff_status() == HandoffStatus.REASSIGNED  # the system's decision is recorded
    worker.run_until_idle()  # the graph redrafts for the new owner
    assert handoff_status() == HandoffStatus.AWAITING_APPROVAL
    assert client.get("/v1/approvals", params={"status": "pending"}).json()[0]["version"] == 2


# -- the code: every handoff status it writes goes through the table ---------------------------


@cache  # parsed and walked once: every check below looks at every node of every product file
def _nodes() -> list[tuple[Path, list[ast.AST]]]:
    return [(path, list(ast.walk(ast.parse(path.read_text(), str(path)))))
            for package in SURFACES for path in sorted((ROOT / package).rglob("*.py"))]


class _Where(NamedTuple):
    """Where a node is, written out ("service/x.py:12") only when a check reports it."""

    path: Path
    node: ast.AST

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{getattr(self.node, 'lineno', 0)}"

    __repr__ = __str__


def _enum_member(node: ast.AST) -> tuple[str, str] | None:
    """`Kind.MEMBER` (optionally `.value`) -> (Kind, MEMBER)."""
    if isinstance(node, ast.Attribute) and node.attr == "value":
        node = node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    return None


def test_every_status_the_code_moves_to_is_in_the_lifecycle_table() -> None:
    kinds = {kind.__name__: kind for kind in ALLOWED}
    targets = {kind: {after for afters in table.values() for after in afters}
               for kind, table in ALLOWED.items()}
    seen = 0
    for path, nodes in _nodes():
        for node in nodes:
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "transition" and len(node.args) == 2):
                continue
            seen += 1
            target = node.args[1]
            where = _Where(path, node)
            member = _enum_member(target)
            if member and member[0] in kinds:
                kind = kinds[member[0]]
                assert kind[member[1]] in targets[kind], f"{where}: {ast.unparse(target)}"
            elif ast.unparse(target).startswith("HANDOFF_STATUS_AFTER["):
                assert set(HANDOFF_STATUS_AFTER.values()) <= targets[HandoffStatus], where
            else:  # a variable: the lifecycle is checked when it runs
                assert isinstance(target, ast.Name), f"{where}: {ast.unparse(target)}"
    assert seen >= 10  # the scan found the call sites (outbox, transfers, approvals, handoffs)


def test_every_status_the_code_writes_directly_is_in_its_lifecycle_table() -> None:
    """`x.status = Kind.MEMBER` and `status=Kind.MEMBER.value` (new rows, claims; also a
    lifecycle's `*_START`): the member is a state of its lifecycle's table; every lifecycle
    has a table."""
    kinds = {kind.__name__: kind for kind in ALLOWED}
    untabled: set[str] = set()
    seen = 0
    for path, nodes in _nodes():
        for node in nodes:
            values: list[ast.AST] = []
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Attribute) and t.attr == "status" for t in node.targets):
                values = [node.value]
            elif isinstance(node, ast.Call):
                values = [kw.value for kw in node.keywords if kw.arg == "status"]
            for value in values:
                member = _enum_member(value)
                start = value.value if isinstance(value, ast.Attribute) else value
                if isinstance(start, ast.Name) and start.id.endswith("_START"):  # HANDOFF_START
                    first = getattr(lifecycle, start.id)
                    member = (type(first).__name__, first.name)
                if member is None or not member[0].endswith("Status"):
                    continue
                seen += 1
                where = _Where(path, node)
                if member[0] not in kinds:
                    untabled.add(member[0])
                    continue
                table = ALLOWED[kinds[member[0]]]
                states = set(table) | {after for afters in table.values() for after in afters}
                assert kinds[member[0]][member[1]] in states, f"{where}: {ast.unparse(value)}"
    assert seen >= 5
    assert not untabled, f"a lifecycle without a table in ALLOWED: {untabled}"


def test_every_handoff_status_write_goes_through_transition() -> None:
    writes = []
    for path, nodes in _nodes():
        for node in nodes:
            where = _Where(path, node)
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if (isinstance(target, ast.Attribute) and target.attr == "status"
                            and "handoff" in ast.unparse(target.value).lower()):
                        writes.append(where)
                        assert (isinstance(node.value, ast.Call)
                                and ast.unparse(node.value.func) == "transition"), where
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == "Handoff"):
                status = {kw.arg: kw.value for kw in node.keywords}.get("status")
                assert status is not None and ast.unparse(status) == "HANDOFF_START.value", where
                writes.append(where)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "values" and "update(Handoff)" in ast.unparse(node)):
                # An UPDATE of handoffs sets no status behind the table's back.
                status = {kw.arg: kw.value for kw in node.keywords}.get("status")
                if status is not None:
                    writes.append(where)
                    assert (isinstance(status, ast.Call)
                            and ast.unparse(status.func) == "transition"), where
    assert len(writes) >= 4  # creation, card opened, decision, close
    assert HANDOFF_START in HANDOFF_TABLE


# -- support conversations and their warm transfers (issue 14) -------------------------------


def _calls(nodes: list[ast.AST], name: str) -> list[ast.Call]:
    last = name.rpartition(".")[2]  # a cheap look at the callee's last name before unparsing it
    return [node for node in nodes if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == last
            and ast.unparse(node.func) == name]


def _status_of(call: ast.Call) -> ast.AST | None:
    return {kw.arg: kw.value for kw in call.keywords}.get("status")


def test_every_conversation_status_write_goes_through_transition() -> None:
    """`conversation.status = transition(conversation.status, ConversationStatus.X)`: the change
    is checked against the stored status; a new row starts at CONVERSATION_START; no UPDATE
    sets a conversation's status behind the table's back."""
    changes, creations = [], []
    for path, nodes in _nodes():
        for node in nodes:
            where = _Where(path, node)
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if not (isinstance(target, ast.Attribute) and target.attr == "status"
                            and ("conversation" in ast.unparse(target.value).lower()
                                 or "ConversationStatus" in ast.unparse(node.value))):
                        continue
                    value = node.value
                    assert isinstance(value, ast.Call) and ast.unparse(value.func) == \
                        "transition", f"{where}: {ast.unparse(node)}"
                    assert ast.unparse(value.args[0]) == ast.unparse(target), where
                    assert (_enum_member(value.args[1]) or ("",))[0] == \
                        "ConversationStatus", where
                    changes.append(where)
            elif isinstance(node, ast.Dict):
                # A row built as a dict (the turn lease creates the conversation's row).
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "status" and (
                            "ConversationStatus" in ast.unparse(value)
                            or "CONVERSATION_START" in ast.unparse(value)):
                        assert ast.unparse(value) == "CONVERSATION_START.value", where
                        creations.append(where)
        for call in _calls(nodes, "SupportConversation"):
            status = _status_of(call)
            assert status is None or ast.unparse(status) == "CONVERSATION_START.value", \
                _Where(path, call)
        for node in nodes:
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "values"
                    and "(SupportConversation)" in ast.unparse(node.func.value)):
                assert _status_of(node) is None, \
                    f"{_Where(path, node)}: {ast.unparse(node)}"
    # reopen, open_transfer, claim, resolve, hand back, the bot's resolution
    assert len(changes) >= 6, changes
    assert creations, "the conversation's first row was not found"


def test_every_transfer_status_write_goes_through_the_table() -> None:
    """A transfer is created at TRANSFER_START and moved only by a conditional UPDATE whose
    value is `transition(...)` (its WHERE uses `sources(target)`)."""
    created, moved = 0, 0
    for path, nodes in _nodes():
        for call in _calls(nodes, "SupportTransfer"):
            status = _status_of(call)
            if status is not None:
                assert ast.unparse(status) == "TRANSFER_START.value", \
                    _Where(path, call)
                created += 1
        for node in nodes:
            where = _Where(path, node)
            if isinstance(node, ast.Assign):
                assert not any(isinstance(t, ast.Attribute) and t.attr == "status"
                               and "transfer" in ast.unparse(t.value).lower()
                               for t in node.targets), f"{where}: {ast.unparse(node)}"
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "values"
                    and "update(SupportTransfer)" in ast.unparse(node.func.value)):
                status = _status_of(node)
                if status is not None:
                    assert isinstance(status, ast.Call) and ast.unparse(status.func) == \
                        "transition", where
                    assert "sources(" in ast.unparse(node.func.value), where
                    moved += 1
    assert created == 1 and moved >= 2  # open_transfer; claim and _close
