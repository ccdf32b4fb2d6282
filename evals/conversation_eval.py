"""Support conversations: does the bot hand over to a human when it should, and only then?

`evaluate_case` plays one case through the support bot exactly as production would: every
customer turn goes through `service.conversations.post_message` (the service behind
`POST /v1/conversations/{id}/messages`), a fresh conversation per case, on a throwaway SQLite
store. The results count towards the gate.

`case` is `{"id": str, "customer": {"email", "name", "account": {"plan", "arr", "tier"}},
"messages": [str, ...]}` (customer turns, in order); `customer.known_leads` (optional) are lead
records stored before the first turn, through the service's ingest (a colleague at the same
company, say), so the bot can link the customer to their company's account. The outcome is
`{"handoff": bool, "trigger": str | None, "at_turn": int | None, "replies": [str, ...]}`, where
`at_turn` is the 1-based customer turn that triggered the handoff and `trigger` one of
`evals.cases.TRIGGERS`.
A test may pass its own `entry_point`; keyword arguments it declares (`rt`, `settings`, `policy`)
are passed when it asks for them.
"""

from __future__ import annotations

import inspect
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from agent.policy import load_policy
from config.clock import FrozenClock
from config.settings import Settings, load_settings
from evals.cases import DEFAULT_NOW, TRIGGERS, ConversationCase
from evals.checks import find_terms
from service.conversations import CustomerMessageIn, post_message
from service.ingest import ingest_events
from service.runtime import AppRuntime, build_runtime
from service.schemas import EventIn
from store.tables import SupportTransfer

Progress = Callable[[str], None]


def evaluate_case(case: dict[str, Any], *, rt: AppRuntime) -> dict[str, Any]:
    """Play one eval case through the bot exactly as production would.

    Every customer turn goes through `post_message`, a fresh conversation per call. Returns
    whether and at which turn the bot handed over, the recorded trigger, and the bot's replies.
    """
    conversation_id = f"eval-{case['id']}-{uuid.uuid4().hex[:8]}"
    _seed_known_leads(rt, case)
    customer = {k: case["customer"][k] for k in ("email", "name")
                if (case.get("customer") or {}).get(k)}
    replies: list[str] = []
    for turn, text in enumerate(case["messages"], start=1):
        answer = post_message(rt, conversation_id, CustomerMessageIn.model_validate(
            {"text": text, "customer": customer or None}))
        if hasattr(rt.clock, "advance"):
            rt.clock.advance(seconds=30)  # customers take a moment between messages
        if answer["reply"]:
            replies.append(str(answer["reply"]))
        if answer["handoff_id"]:
            with rt.db.session() as session:
                transfer = session.get(SupportTransfer, answer["handoff_id"])
                trigger = transfer.trigger if transfer else None
            return {"handoff": True, "trigger": trigger, "at_turn": turn, "replies": replies}
    return {"handoff": False, "trigger": None, "at_turn": None, "replies": replies}


def _seed_known_leads(rt: AppRuntime, case: dict[str, Any]) -> None:
    known = (case.get("customer") or {}).get("known_leads") or []
    if known:
        events = [EventIn.model_validate({
            "event_id": f"eval-{case['id']}-known-{i}", "type": "page_view",
            "occurred_at": rt.clock.now() - timedelta(days=3), "lead": lead,
            "properties": {"url": "https://vendor.example/docs"}}) for i, lead in enumerate(known)]
        ingest_events(rt, events)


def _as_outcome(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raw = {k: getattr(raw, k, None) for k in ("handoff", "trigger", "at_turn", "replies")}
    replies = raw.get("replies") or []
    return {"handoff": bool(raw.get("handoff")), "trigger": raw.get("trigger"),
            "at_turn": raw.get("at_turn"), "replies": [str(r) for r in replies if r]}


def score_conversation(case: ConversationCase, outcome: dict[str, Any]) -> dict[str, Any]:
    """Compare one bot outcome with the case's expectation."""
    expect = case.expect
    failures: list[str] = []
    if outcome["handoff"] != expect.handoff:
        failures.append("missed handoff" if expect.handoff else
                        f"unexpected handoff ({outcome['trigger'] or 'no trigger'})")
    trigger_ok = None
    if expect.handoff and outcome["handoff"]:
        trigger_ok = outcome["trigger"] in case.accepted_triggers
        if not trigger_ok:
            failures.append(f"trigger {outcome['trigger']!r}, expected "
                            f"{' or '.join(sorted(case.accepted_triggers))}")
        if expect.at_turn is not None and outcome["at_turn"] not in (None, expect.at_turn):
            failures.append(f"handed over at turn {outcome['at_turn']}, expected {expect.at_turn}")
    leaked = find_terms("\n".join(outcome["replies"]), expect.bot_must_not_mention)
    failures += [f"bot said {t!r}" for t in leaked]
    return {"id": case.id, "dataset": "conversations", "title": case.title,
            "tags": list(case.tags), "why": case.why, "messages": list(case.messages),
            "expected": expect.model_dump(mode="json", exclude_defaults=True),
            "actual": outcome, "trigger_ok": trigger_ok, "failures": failures,
            "passed": not failures}


def conversation_metrics(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    expected = [r["expected"]["handoff"] for r in results]
    actual = [bool(r["actual"].get("handoff")) for r in results]
    tp = sum(e and a for e, a in zip(expected, actual, strict=True))
    fp = sum(a and not e for e, a in zip(expected, actual, strict=True))
    fn = sum(e and not a for e, a in zip(expected, actual, strict=True))
    triggers = [r["trigger_ok"] for r in results if r["trigger_ok"] is not None]
    per_trigger: dict[str, dict[str, int]] = {t: {"cases": 0, "handed_over": 0} for t in TRIGGERS}
    for r in results:
        trigger = r["expected"].get("trigger")
        if r["expected"]["handoff"] and trigger in per_trigger:
            per_trigger[trigger]["cases"] += 1
            per_trigger[trigger]["handed_over"] += int(bool(r["actual"].get("handoff")))
    return {
        "cases": len(results),
        "passed": sum(r["passed"] for r in results),
        "errors": sum(1 for r in results if r.get("error")),
        "conversation_handoff_precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "conversation_handoff_recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "conversation_trigger_accuracy": (round(sum(triggers) / len(triggers), 4)
                                          if triggers else None),
        "per_trigger": per_trigger,
        "actual_triggers": dict(Counter(str(r["actual"].get("trigger")) for r in results
                                        if r["actual"].get("handoff"))),
    }


def run_conversation_eval(
    cases: Sequence[ConversationCase],
    settings: Settings,
    *,
    progress: Progress | None = None,
    entry_point: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Run every case through the bot (`evaluate_case`, or a test's `entry_point`); missed
    handoffs are listed first."""
    function = entry_point or evaluate_case
    wanted = set(inspect.signature(function).parameters)
    with tempfile.TemporaryDirectory(prefix="hitl-eval-support-") as tmp:
        runtime = None
        kwargs: dict[str, Any] = {}
        if "rt" in wanted:
            runtime = _runtime(settings, Path(tmp))
            kwargs["rt"] = runtime
        if "settings" in wanted:
            kwargs["settings"] = settings
        if "policy" in wanted:
            kwargs["policy"] = load_policy(settings.policy_file)
        results = []
        try:
            for case in cases:
                if progress is not None:
                    progress(f"support bot: {case.id}")
                try:
                    outcome = _as_outcome(function(case.as_input(), **kwargs))
                except Exception as exc:  # one broken case must not hide the others
                    result = score_conversation(case, {"handoff": False, "trigger": None,
                                                       "at_turn": None, "replies": []})
                    result.update(passed=False, error=f"{type(exc).__name__}: {exc}")
                    result["failures"].insert(0, f"error: {type(exc).__name__}: {exc}")
                else:
                    result = score_conversation(case, outcome)
                results.append(result)
        finally:
            if runtime is not None:
                runtime.close()
    metrics = conversation_metrics(results)
    missed = [r for r in results if r["expected"]["handoff"] and not r["actual"]["handoff"]]
    extra = [r for r in results if r["actual"]["handoff"] and not r["expected"]["handoff"]]
    where = f"{function.__module__}.{function.__qualname__}"
    return {"available": True, "gated": True, "entry_point": where,
            "metrics": metrics, "results": results,
            "missed": [{"id": r["id"], "title": r["title"], "trigger": r["expected"]["trigger"]}
                       for r in missed],
            "unexpected": [{"id": r["id"], "title": r["title"], "trigger": r["actual"]["trigger"]}
                           for r in extra]}


def _runtime(base: Settings, workdir: Path) -> AppRuntime:
    settings = load_settings(
        database_url=f"sqlite:///{workdir / 'support.db'}", chroma_path=workdir / "chroma",
        chroma_url=None, embeddings="local", slack_bot_token=None, slack_signing_secret=None,
        slack_app_token=None, smtp_url=None, api_token=None, worker_threads=2,
        policy_file=base.policy_file, team_file=base.team_file,
        openai_api_key=base.openai_api_key, openai_base_url=base.openai_base_url,
    )
    rt = build_runtime(settings, clock=FrozenClock(DEFAULT_NOW))
    rt.db.upgrade()
    return rt
