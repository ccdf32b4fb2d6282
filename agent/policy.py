"""The handoff policy and the team roster: data files parsed into validated, frozen models.

Policy is data (`config/defaults/policy.toml`); the small pure functions that read it live in
`agent.qualification`, `agent.routing` and `agent.sla`.
"""

from __future__ import annotations

import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.experiments import Experiment, check_experiments
from agent.policy_languages import Drafting, Languages, merge_language_words

ReasonCode = Literal[
    "connected", "meeting_set", "no_response", "not_icp", "not_now", "competitor", "duplicate"
]
REASON_CODES: tuple[ReasonCode, ...] = (
    "connected", "meeting_set", "no_response", "not_icp", "not_now", "competitor", "duplicate",
)
Segment = Literal["smb", "mid-market", "enterprise"]
Route = Literal["hand_raise", "strategic", "band_a", "nurture", "disqualified"]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FitPoints(_Frozen):
    segment: int
    industry: int
    country: int
    seniority: int
    free_email_penalty: int


class Icp(_Frozen):
    countries: list[str]
    segments: list[Segment]
    industries: list[str]
    senior_title_words: list[str]
    free_email_domains: list[str]
    fit_points: FitPoints


class Disqualifiers(_Frozen):
    student_title_words: list[str]
    student_email_suffixes: list[str]
    competitor_domains: list[str]
    throwaway_domains: list[str]
    # Student words heading a title from its first word too (languages whose head noun comes
    # first); filled from [languages.words.*].student_title_words.
    student_title_lead_words: list[str] = []


class PageRule(_Frozen):
    pattern: str
    weight: float
    label: str


class Scoring(_Frozen):
    half_life_days: float = Field(gt=0)
    window_days: int = Field(gt=0)
    fit_share: float = Field(ge=0, le=1)
    intent_cap: float = Field(gt=0)
    event_weights: dict[str, float]
    form_weights: dict[str, float]
    page_rules: list[PageRule]


class Bands(_Frozen):
    A: float
    B: float

    @model_validator(mode="after")
    def _ordered(self) -> Bands:
        if not self.A > self.B:
            raise ValueError(f"band A threshold ({self.A}) must be above band B ({self.B})")
        return self


class TargetAccount(_Frozen):
    domain: str
    owner: str


class Routing(_Frozen):
    hand_raise_forms: list[str]
    hand_raise_events: list[str]
    hand_raise_window_hours: float = Field(gt=0)
    rising_window_days: int = Field(gt=0)
    max_open_approvals_per_rep: int = Field(gt=0)
    target_accounts: list[TargetAccount] = []
    # "Repeated high-intent visits" (the seeds' band-A row): visits to pages whose page-rule
    # label is listed here, at least `repeated_visits` of them in the last
    # `repeated_visits_days`; page views less than `visit_gap_minutes` apart are one visit.
    high_intent_pages: list[str] = ["pricing page", "demo page", "comparison page",
                                    "integration page"]
    repeated_visits: int = Field(default=3, ge=2)
    repeated_visits_days: int = Field(default=7, gt=0)
    visit_gap_minutes: float = Field(default=30, gt=0)


class Recycle(_Frozen):
    """The seeds' "unresponsive after outreach -> recycle to automation after X attempts, at day
    7-14": counted from the first outreach email sent, a connect being a reply or a booked
    meeting from the lead after it."""

    # X: outreach emails sent without a connect before the recycle.
    no_response_attempts: int = Field(default=2, ge=1)
    # The earliest day (after the first email) a recycle happens, and the day it happens
    # whatever the number of attempts.
    no_response_after_days: float = Field(default=7, gt=0)
    no_response_by_days: float = Field(default=14, gt=0)
    # After the X-th email the lead gets this long to answer before the recycle.
    reply_wait_days: float = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _window(self) -> Recycle:
        if self.no_response_by_days < self.no_response_after_days:
            raise ValueError(f"no_response_by_days ({self.no_response_by_days}) must not be "
                             f"before no_response_after_days ({self.no_response_after_days})")
        return self


class SlaRule(_Frozen):
    human: bool
    minutes: float | None = Field(None, gt=0)
    business_days: int | None = None
    same_business_day: bool = False
    business_hours: bool = True


class BusinessHours(_Frozen):
    timezone: str
    start: time
    end: time
    days: list[Weekday]
    # Count SLA time in the owner's time zone (roster `timezone`) when they have one.
    use_owner_timezone: bool = True

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _window(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("business_hours.end must be after start")
        if not self.days:
            raise ValueError("business_hours.days must name at least one day")
        return self


class Rescue(_Frozen):
    """Momentum rescue when an SLA is missed: remind, then escalate and reassign."""

    remind_on_first_breach: bool = True
    reassign_on_second_breach: bool = True
    nurture_track: str = "momentum-rescue"
    # Routes whose leads are also enrolled in the (pre-approved) rescue nurture track.
    nurture_routes: list[Route] = []


class Caps(_Frozen):
    max_messages_per_week: int = Field(ge=0)


class DispositionRule(_Frozen):
    stage: str
    nurture_track: str
    suppress_days: int = Field(ge=0)
    keep_owner: bool
    hand_raise_overrides: bool


class Risks(_Frozen):
    negative_ticket_sentiment: float
    recent_ticket_days: int
    recent_unsubscribe_days: int
    competitor_words: list[str]


class ContentRules(_Frozen):
    """What a draft may carry besides the lead's own details ([content] in the policy file)."""

    # Links (and bare domains) a draft may contain: these domains and their subdomains, e.g.
    # the vendor's sites and where the content library lives. Empty: no links at all.
    allowed_link_domains: list[str] = []
    # Names a draft may say even when some lead's record carries the same name: the vendor's,
    # its products', partners' and reference customers'. (Competitors named in [risks] and the
    # team's names count too.) Every other person or company from the store is refused.
    allowed_names: list[str] = []

    @field_validator("allowed_link_domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        cleaned = []
        for value in values:
            domain = value.strip().rstrip(".").lower()
            if (not domain or "." not in domain or "://" in domain
                    or any(ch in domain for ch in "/@ :?#*")):
                raise ValueError(f"{value!r} is not a domain name (write \"vendor.example\", "
                                 "no scheme, path or wildcard)")
            cleaned.append(domain)
        return cleaned


class Policy(_Frozen):
    version: str = Field(min_length=1)
    changelog: list[str] = []
    icp: Icp
    segments: dict[Segment, tuple[int, int]]
    disqualifiers: Disqualifiers
    scoring: Scoring
    bands: Bands
    routing: Routing
    sla: dict[Literal["hand_raise", "strategic", "band_a", "nurture"], SlaRule]
    business_hours: BusinessHours
    caps: Caps
    dispositions: dict[ReasonCode, DispositionRule]
    risks: Risks
    rescue: Rescue = Rescue()
    recycle: Recycle = Recycle()
    content: ContentRules = ContentRules()
    # [languages]: the lead's language and the rule words in each (agent/language.py).
    languages: Languages = Languages()
    drafting: Drafting = Drafting()
    # The [support] table, validated by agent.support.policy (the support bot's own model).
    support: dict[str, Any] = {}
    # [[experiments]]: A/B tests of drafts and thresholds (agent/experiments.py).
    experiments: list[Experiment] = []

    @model_validator(mode="before")
    @classmethod
    def _language_words(cls, data: Any) -> Any:
        return merge_language_words(data)

    @model_validator(mode="after")
    def _complete(self) -> Policy:
        missing = [code for code in REASON_CODES if code not in self.dispositions]
        if missing:
            raise ValueError(f"dispositions missing for reason codes: {', '.join(missing)}")
        for route in ("hand_raise", "strategic", "band_a", "nurture"):
            if route not in self.sla:
                raise ValueError(f"sla.{route} is missing")
        labels = {rule.label.casefold() for rule in self.scoring.page_rules}
        unknown = [x for x in self.routing.high_intent_pages if x.casefold() not in labels]
        if unknown:
            raise ValueError(f"routing.high_intent_pages names no page rule label: "
                             f"{', '.join(unknown)} (labels: {', '.join(sorted(labels))})")
        check_experiments(self.experiments, self)
        return self

    def segment_for(self, employees: int | None) -> Segment | None:
        if employees is None:
            return None
        for name, (low, high) in self.segments.items():
            if low <= employees <= high:
                return name
        return None


Role = Literal["rep", "manager", "support"]


class Member(_Frozen):
    slack_id: str | None = None
    email: str
    name: str
    role: Role
    territories: list[str] = []
    segments: list[Segment] = []
    out_of_office: bool = False
    timezone: str | None = None

    @property
    def key(self) -> str:
        """The identifier stored as an owner/assignee: the Slack id when known, else the email."""
        return self.slack_id or self.email


class Roster(_Frozen):
    members: list[Member]

    def find(self, actor: str | None) -> Member | None:
        """The member an actor string (Slack id or email, any case) names, if any."""
        if not actor:
            return None
        needle = actor.strip().lower()
        for member in self.members:
            if needle in {(member.slack_id or "").lower(), member.email.lower()}:
                return member
        return None

    def by_slack_id(self, slack_id: str | None) -> Member | None:
        """The member listed with this Slack user id, if any."""
        needle = (slack_id or "").strip().upper()
        if not needle:
            return None
        return next((m for m in self.members if (m.slack_id or "").upper() == needle), None)

    def for_slack_user(self, slack_id: str, profile_email: str | None = None) -> Member | None:
        """The member a Slack user is: the one listed with their Slack id; failing that, the
        one whose email is on their Slack profile, but only among members listed without a
        `slack_id` (a listed id is the identity: a second account that shows the same email
        is not that person)."""
        member = self.by_slack_id(slack_id)
        if member is not None or not profile_email:
            return member
        email = profile_email.strip().lower()
        return next((m for m in self.members
                     if not m.slack_id and m.email.lower() == email), None)

    def managers(self) -> list[Member]:
        return [m for m in self.members if m.role == "manager"]

    def managers_on_duty(self, *, besides: str | None = None) -> list[Member]:
        """Managers in the office (other than `besides`), in roster order; every manager when
        none is: someone must always be told."""
        on_duty = [m for m in self.managers() if not m.out_of_office and m.key != besides]
        return on_duty or self.managers()

    def reps(self) -> list[Member]:
        return [m for m in self.members if m.role == "rep"]


class PolicyFileError(ValueError):
    """A policy or roster file that cannot be used, naming the file and the fields at fault."""


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise PolicyFileError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"{path}: not valid TOML ({exc})") from None


def _explain(path: Path, exc: ValidationError) -> PolicyFileError:
    lines = [
        f"  {'.'.join(str(p) for p in err['loc']) or '(top)'}: "
        f"{err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors()
    ]
    return PolicyFileError(f"{path}: invalid\n" + "\n".join(lines))


def load_policy(path: Path) -> Policy:
    try:
        return Policy.model_validate(_read_toml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from None


def load_roster(path: Path) -> Roster:
    try:
        roster = Roster.model_validate(_read_toml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from None
    if not roster.managers():
        raise PolicyFileError(f"{path}: the roster needs at least one manager (role = \"manager\")")
    return roster
