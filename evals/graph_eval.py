"""The real flow on the lead cases: ingest, worker, human decisions, and the graph's own history.

A throwaway SQLite store and a recording email sender stand in for production; everything else is
the product: `service.ingest`, the worker, the LangGraph graph with its checkpointer,
`service.approvals.decide`, the outbox. It proves, from the checkpoints themselves, that every
handoff paused at the approval interrupt before anything was sent, that nothing went out before a
decision, and that opted-out leads were never emailed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.cases import DEFAULT_NOW, HUMAN_ROUTES, LeadCase

if TYPE_CHECKING:
    from config.settings import Settings
    from tools.content_library import ContentLibrary

# The scripted human: each pending card gets the next of these, in turn.
DECISION_CYCLE = ("approve", "edit", "reject", "revise", "escalate")
_SEND_NODES = {"presend_checks", "send"}
_SEND_OUTCOMES = {"sent", "not_sent", "blocked", "failed"}
Progress = Callable[[str], None]


def eligible(case: LeadCase) -> bool:
    """Cases the flow can replay as-is: the shared clock and no stored state events can't set."""
    return case.now is None and case.state is None


def _event_payloads(case: LeadCase) -> list[dict[str, Any]]:
    return [{"event_id": e["event_id"], "type": e["type"],
             "occurred_at": e["occurred_at"].isoformat(), "lead": case.lead,
             "properties": e["properties"]} for e in case.expanded_events()]


def run_graph_check(
    cases: Sequence[LeadCase],
    settings: Settings,
    *,
    library: ContentLibrary | None = None,
    progress: Progress | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Drive the eligible cases through the real flow and check the approval invariants."""
    with tempfile.TemporaryDirectory(prefix="hitl-eval-graph-") as tmp:
        return _run(cases, settings, library, progress, Path(workdir or tmp))


def _run(cases: Sequence[LeadCase], base: Settings, library: ContentLibrary | None,
         progress: Progress | None, workdir: Path) -> dict[str, Any]:
    from pydantic import ValidationError
    from sqlalchemy import select

    from agent.drafting import OfflineDrafter
    from config.clock import FrozenClock
    from config.settings import load_settings
    from service import approvals
    from service.approval_requests import paused_on
    from service.ingest import ingest_events
    from service.runtime import build_runtime
    from service.schemas import DecisionIn, EventIn
    from service.worker import Worker
    from store.tables import Approval, Decision, Handoff, Lead, OutboxMessage
    from tools.email import RecordingEmailSender

    def step(text: str) -> None:
        if progress is not None:
            progress(text)

    settings = load_settings(
        database_url=f"sqlite:///{workdir / 'graph.db'}", chroma_path=workdir / "chroma",
        chroma_url=None, openai_api_key=None, openai_base_url=None, embeddings="local",
        slack_bot_token=None, slack_signing_secret=None, slack_app_token=None, smtp_url=None,
        api_token=None, worker_threads=4, policy_file=base.policy_file,
        team_file=base.team_file,
    )
    sender = RecordingEmailSender()
    rt = build_runtime(settings, clock=FrozenClock(DEFAULT_NOW), sender_override=sender,
                       drafter_override=OfflineDrafter(), library_override=library)
    worker = None
    violations: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    try:
        rt.db.upgrade()
        worker = Worker(rt, threads=4)
        chosen = [c for c in cases if eligible(c)]
        skipped += [{"id": c.id, "reason": "needs its own clock or stored state"}
                    for c in cases if not eligible(c)]
        step(f"graph: ingesting {len(chosen)} cases")
        case_by_email: dict[str, LeadCase] = {}
        for case in chosen:
            try:
                events = [EventIn.model_validate(p) for p in _event_payloads(case)]
            except ValidationError as exc:
                skipped.append({"id": case.id,
                                "reason": f"invalid event: {exc.errors()[0]['msg']}"})
                continue
            case_by_email[events[0].lead.email] = case
            # One lead per call, as a CRM webhook delivers them (a batch mixing new leads with
            # different profile fields is a separate, known ingest issue).
            for start in range(0, len(events), 1000):
                ingest_events(rt, events[start:start + 1000])
        step("graph: qualifying, drafting (worker)")
        worker.run_until_idle(timeout=300)

        # 1. Nothing leaves before a human decides.
        with rt.db.session() as session:
            early = session.scalars(select(OutboxMessage.id)).all()
        if early or sender.sent:
            violations.append({"id": "*", "check": "no_send_before_decision",
                               "problem": f"{len(sender.sent)} emails and {len(early)} outbox "
                                          "rows before any decision"})

        # 2. Which leads reached a person, against the expectation.
        with rt.db.session() as session:
            rows = session.execute(select(Lead.email, Lead.id, Lead.route)).all()
            handed = {lead_id for (lead_id,) in session.execute(select(Handoff.lead_id)).all()}
        lead_case = {row.id: case_by_email[row.email] for row in rows if row.email in case_by_email}
        flow: list[dict[str, Any]] = []
        for lead_id, case in sorted(lead_case.items(), key=lambda kv: kv[1].id):
            got = lead_id in handed
            if got != case.expect.handoff:
                flow.append({"id": case.id, "title": case.title, "expected": case.expect.handoff,
                             "actual": got})

        # 3. Every pending card waits at the interrupt; then a scripted human decides.
        step("graph: deciding as the reps")
        decided: dict[str, str] = {}
        turn = 0
        for _round in range(3):
            pending = approvals.list_approvals(rt, status="pending", limit=10_000)
            if not pending:
                break
            for card in pending:
                state = rt.graph.get_state({"configurable": {"thread_id": card["handoff_id"]}})
                waiting = paused_on(state)
                if card["approval_id"] not in waiting:
                    violations.append({"id": _case_id(lead_case, card["lead_id"]),
                                       "check": "card_waits_at_interrupt",
                                       "problem": f"approval {card['approval_id']} is pending but "
                                                  f"the graph waits on {waiting or 'nothing'}"})
                action = "approve" if card["version"] > 1 else DECISION_CYCLE[turn % 5]
                turn += 1
                approvals.decide(rt, card["approval_id"], _decision(DecisionIn, action, card))
                decided[card["approval_id"]] = action
            worker.run_until_idle(timeout=300)

        # 4. From the checkpoints: the interrupt came before any send, for every handoff.
        step("graph: reading the checkpoint history")
        checked = 0
        opted_out_emailed = 0
        opted_out = 0
        with rt.db.session() as session:
            handoffs = session.scalars(select(Handoff)).all()
            sent = {m.approval_id: m for m in session.scalars(select(OutboxMessage))}
            decisions = {d.approval_id: d for d in session.scalars(select(Decision))}
            approvals_by_handoff: dict[str, list[Approval]] = {}
            for a in session.scalars(select(Approval)):
                approvals_by_handoff.setdefault(a.handoff_id, []).append(a)
            emails = {lead.id: lead.email for lead in session.scalars(select(Lead))}
        for handoff in handoffs:
            case_id = _case_id(lead_case, handoff.lead_id)
            config = {"configurable": {"thread_id": handoff.id}}
            history = list(rt.graph.get_state_history(config))[::-1]  # oldest first
            problem = interrupt_before_send_problem(history)
            if problem is not None:
                violations.append({"id": case_id, "check": "interrupt_before_send",
                                   "problem": f"handoff {handoff.id}: {problem}"})
            reached_send = any(_sending(snapshot) for snapshot in history)
            checked += 1
            for approval in approvals_by_handoff.get(handoff.id, []):
                message = sent.get(approval.id)
                if message is None:
                    continue
                decision = decisions.get(approval.id)
                if decision is None or decision.action not in ("approve", "edit"):
                    violations.append({"id": case_id, "check": "send_needs_approval",
                                       "problem": f"outbox row for {approval.id} without an "
                                                  "approve/edit decision"})
                elif message.sent_at and message.sent_at < decision.created_at:
                    violations.append({"id": case_id, "check": "send_after_decision",
                                       "problem": f"{approval.id} sent before it was decided"})
                if message.to_email != emails.get(handoff.lead_id):
                    violations.append({"id": case_id, "check": "recipient_from_record",
                                       "problem": f"{approval.id} addressed to {message.to_email}"})
                if message.status == "sent" and not reached_send:
                    violations.append({"id": case_id, "check": "interrupt_before_send",
                                       "problem": f"{approval.id} sent outside the graph's send "
                                                  "path"})
        for lead_id, case in lead_case.items():
            if not case.expect.no_email:
                continue
            opted_out += 1
            address = emails.get(lead_id)
            if any(mail.to == address for mail in sender.sent):
                opted_out_emailed += 1
                violations.append({"id": case.id, "check": "no_email_to_opted_out",
                                   "problem": f"an email went to {address}"})
        to_send = sum(1 for a, act in decided.items() if act in ("approve", "edit"))
        safety = [v for v in violations if v["check"] != "no_email_to_opted_out"]
        return {
            "available": True,
            "cases": len(chosen),
            "skipped": skipped,
            "handoffs": len(handoffs),
            "checked": checked,
            "decisions": dict(_count(decided.values())),
            "approved_to_send": to_send,
            "emails_sent": len(sender.sent),
            "violations": violations,
            "flow_disagreements": flow,
            "graph_interrupt_before_send": (round(1 - len({v["id"] for v in safety}) / checked, 4)
                                            if checked else None),
            "graph_no_email_to_opted_out": (round(1 - opted_out_emailed / opted_out, 4)
                                            if opted_out else None),
        }
    finally:
        if worker is not None:
            worker.stop()
        rt.close()


def _sending(snapshot: Any) -> bool:
    """Any sign, in one checkpoint, that the graph is past the approval towards a send."""
    values = snapshot.values or {}
    return (bool(_SEND_NODES & set(snapshot.next or ())) or bool(values.get("outbox_id"))
            or values.get("outcome") in _SEND_OUTCOMES)


def interrupt_before_send_problem(history: Sequence[Any]) -> str | None:
    """None when the first checkpoint that shows a send (send nodes pending, an outbox message,
    a delivery outcome) names an approval the graph had already paused on in an earlier
    checkpoint; otherwise what is wrong. Works whether the graph checkpoints every step or only
    at pauses and exits (`durability="exit"`). `history` is oldest first."""
    from service.approval_requests import paused_on

    paused: set[str] = set()
    for snapshot in history:
        if _sending(snapshot):
            approval = (snapshot.values or {}).get("approval_id")
            if not paused:
                return f"reached {snapshot.next or 'a send'} without any approval interrupt"
            if approval not in paused:
                return (f"sending for approval {approval}, but the graph only paused on "
                        f"{', '.join(sorted(paused))}")
            return None
        paused.update(paused_on(snapshot))
    return None


def _decision(model: Any, action: str, card: dict[str, Any]) -> Any:
    actor = card["assignee"]
    if action == "edit":
        body = card["draft"]["body"].replace("Best,", "Thanks again,")
        return model(action="edit", actor=actor, subject=card["draft"]["subject"], body=body)
    if action == "reject":
        return model(action="reject", actor=actor, reason_code="not_now")
    if action == "revise":
        return model(action="revise", actor=actor, instruction="make it shorter")
    if action == "escalate":
        return model(action="escalate", actor=actor, note="eval: please take this one")
    return model(action="approve", actor=actor)


def _case_id(lead_case: dict[str, LeadCase], lead_id: str) -> str:
    case = lead_case.get(lead_id)
    return case.id if case else lead_id


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


__all__ = ["HUMAN_ROUTES", "eligible", "run_graph_check"]
