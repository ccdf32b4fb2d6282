"""The eval datasets: versioned JSONL files of known cases, parsed into validated models.

`evals/datasets/leads-v2.jsonl` holds lead scenarios (inputs: a lead record, its events with times
relative to the case's clock, optional stored flags; expectations written from the policy's
documented intent, corrected where the seeds say otherwise) and `leads-seeds-v1.jsonl` lead
scenarios written from the seeds' transition matrix. `evals/datasets/conversations-v1.jsonl`
holds support conversations with the handoff each one should (or should not) trigger.
`evals/datasets/README.md` describes the fields.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DATASETS_DIR = Path(__file__).parent / "datasets"
# leads-v1.jsonl is kept for history; v2 corrects the expectations issue 18 found wrong.
LEADS_DATASET = DATASETS_DIR / "leads-v2.jsonl"
# Cases written from the seeds' text (the transition matrix row by row), not from the policy.
SEEDS_LEADS_DATASET = DATASETS_DIR / "leads-seeds-v1.jsonl"
# Every lead dataset the eval (and its gate) runs.
LEAD_DATASETS = (LEADS_DATASET, SEEDS_LEADS_DATASET)
CONVERSATIONS_DATASET = DATASETS_DIR / "conversations-v1.jsonl"
# Support conversations written from the seeds' text (issue 18): paraphrased repeats, asks for a
# person, frustration, sensitive topics, German/French/Spanish customers, a known company's email.
SEEDS_CONVERSATIONS_DATASET = DATASETS_DIR / "conversations-seeds-v1.jsonl"
# Every conversation dataset the eval (and its gate) runs.
CONVERSATION_DATASETS = (CONVERSATIONS_DATASET, SEEDS_CONVERSATIONS_DATASET)
# Wednesday 10:00 in New York: inside the default policy's business hours.
DEFAULT_NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)

HUMAN_ROUTES = ("hand_raise", "strategic", "band_a")
Route = Literal["hand_raise", "strategic", "band_a", "nurture", "disqualified"]
BandLabel = Literal["A", "B", "C", "disqualified"]
# The support bot's trigger names (agent/support/policy.py), in its priority order.
TRIGGERS = ("asked_for_human", "churn_threat", "negative_sentiment", "sensitive_topic",
            "high_value_account", "repeated_question", "low_confidence")

_DURATION = re.compile(r"^(-?)(\d+(?:\.\d+)?)([mhd])$")


class DatasetError(ValueError):
    """A dataset file that cannot be used, naming the file, line and field."""


def parse_ago(text: str) -> timedelta:
    """"5m", "2h", "3d" ago; a leading minus means in the future ("-3m")."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 5m, 2h, 3d or -3m")
    sign, amount, unit = match.groups()
    value = float(amount)
    delta = {"m": timedelta(minutes=value), "h": timedelta(hours=value),
             "d": timedelta(days=value)}[unit]
    return -delta if sign else delta


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CaseEvent(_Frozen):
    """One event, or `repeat` events `every` apart starting `ago` (ids get a 3-digit suffix)."""

    id: str
    type: str
    ago: str
    properties: dict[str, Any] = {}
    repeat: int | None = Field(None, ge=1, le=5000)
    every: str | None = None

    @field_validator("ago", "every")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_ago(value)
        return value


class CaseState(_Frozen):
    """Stored flags that no event expresses (set by earlier dispositions).

    `suppressed_days` may be negative: a window that ended that many days ago. `disposition` is a
    reason code a rep records at the case's clock (its suppression then applies).
    `outreach_sent` are the outreach emails sent to the lead ("10d", "6d" ago)."""

    unsubscribed: bool = False
    consent: bool | None = None
    suppressed_days: int | None = None
    suppression_reason: str | None = None
    disposition: str | None = None
    outreach_sent: list[str] = []

    @field_validator("outreach_sent")
    @classmethod
    def _ages(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_ago(value)
        return values


class LeadExpectation(_Frozen):
    band: BandLabel | None = None
    route: Route
    disqualifiers: list[str] | None = None
    sla_due_at: datetime | None = None
    # Instead of an exact time: the SLA is due between these durations after the clock
    # (["5m", "30m"]: the seeds' "5-30 minutes"), inclusive.
    sla_within: tuple[str, str] | None = None
    owner: str | None = None
    top_signals: list[str] | None = None
    risks: list[str] | None = None
    handoff: bool
    must_mention: list[str] = []
    must_not_mention: list[str] = []
    package_must_mention: list[str] = []
    package_must_not_mention: list[str] = []
    no_email: bool = False
    # The no-response recycle decision at the clock, given `state.outreach_sent`.
    recycle: Literal["recycle", "wait", "connected"] | None = None
    # For `state.disposition`: the suppression window it sets, in days, must lie in this range.
    suppress_days_within: tuple[int, int] | None = None

    @field_validator("sla_within")
    @classmethod
    def _window(cls, value: tuple[str, str] | None) -> tuple[str, str] | None:
        if value is not None and parse_ago(value[0]) > parse_ago(value[1]):
            raise ValueError("sla_within: the first duration must not exceed the second")
        return value


class LeadCase(_Frozen):
    id: str
    title: str
    tags: list[str] = []
    why: str = ""
    now: datetime | None = None
    lead: dict[str, Any]
    events: list[CaseEvent] = Field(min_length=1)
    state: CaseState | None = None
    expect: LeadExpectation

    @property
    def clock(self) -> datetime:
        return (self.now or DEFAULT_NOW).astimezone(UTC)

    def expanded_events(self) -> list[dict[str, Any]]:
        """Every event with an absolute `occurred_at` (repeats expanded), oldest first."""
        now = self.clock
        out: list[dict[str, Any]] = []
        for event in self.events:
            start = parse_ago(event.ago)
            if event.repeat:
                step = parse_ago(event.every or "1h")
                for i in range(event.repeat):
                    out.append({"event_id": f"{event.id}{i:03d}", "type": event.type,
                                "occurred_at": now - start + i * step,
                                "properties": dict(event.properties)})
            else:
                out.append({"event_id": event.id, "type": event.type,
                            "occurred_at": now - start, "properties": dict(event.properties)})
        out.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
        return out


class ConversationExpectation(_Frozen):
    handoff: bool
    trigger: str | None = None
    at_turn: int | None = Field(None, ge=1)
    bot_must_not_mention: list[str] = []


class ConversationCase(_Frozen):
    id: str
    title: str
    tags: list[str] = []
    why: str = ""
    customer: dict[str, Any]
    messages: list[str] = Field(min_length=1)
    expect: ConversationExpectation

    @property
    def accepted_triggers(self) -> set[str]:
        """The expected trigger, plus any other `trigger:` tag (some cases fit two)."""
        tags = {t.split(":", 1)[1] for t in self.tags if t.startswith("trigger:")}
        return tags | ({self.expect.trigger} if self.expect.trigger else set())

    def as_input(self) -> dict[str, Any]:
        """What the support bot's `evaluate_case` receives: no expectations."""
        return {"id": self.id, "customer": self.customer, "messages": list(self.messages)}


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    path: str
    version: str
    sha256: str
    cases: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "version": self.version,
                "sha256": self.sha256, "cases": self.cases}


def _read_jsonl(path: Path, model: type[BaseModel]) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    cases: list[Any] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            case = model.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise DatasetError(f"{path}:{number}: {where}: {first['msg']}") from None
        if case.id in seen:  # type: ignore[attr-defined]
            raise DatasetError(f"{path}:{number}: duplicate case id {case.id}")  # type: ignore[attr-defined]
        seen.add(case.id)  # type: ignore[attr-defined]
        cases.append(case)
    return cases


def load_lead_cases(path: Path = LEADS_DATASET) -> list[LeadCase]:
    return _read_jsonl(path, LeadCase)


def load_conversation_cases(path: Path = CONVERSATIONS_DATASET) -> list[ConversationCase]:
    return _read_jsonl(path, ConversationCase)


def dataset_info(name: str, path: Path, cases: int) -> DatasetInfo:
    """Name, version (from the file name, `leads-v1.jsonl` -> v1) and content hash."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    match = re.search(r"-(v\d+)\.jsonl$", path.name)
    return DatasetInfo(name=name, path=path.name, version=match.group(1) if match else "v?",
                       sha256=digest, cases=cases)
