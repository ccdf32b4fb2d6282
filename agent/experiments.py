"""Experiments as policy data (`[[experiments]]`): the models, their checks, and the pure parts of
running them: which variant a lead gets, whether an experiment is running, what a threshold
variant makes of the policy.

A variant changes words or a number, never who must approve: nothing here knows about
approvals. Assignment is a hash of the experiment name and the lead id, so it is the same in
every process; the store keeps it (service/experiments.py) so a later change of split or a
policy reload never moves a lead that already has a variant.

No import of agent.policy here (it imports this module): the policy is handled as a pydantic
model through its own type.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prompts import (
    DRAFT_TEMPLATES,
    OFFLINE_DRAFT_TEMPLATES,
    PROMPTS_DIR,
    environment,
    prompt_version,
)

Stage = Literal["drafting_prompt", "offline_template", "policy_threshold"]
STAGES: tuple[str, ...] = ("drafting_prompt", "offline_template", "policy_threshold")
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class Variant(BaseModel):
    """One arm. `instruction` is added to a lead's first draft request, as a rep's instruction
    would be ("keep it short"); `thresholds` override policy numbers (`bands.A = 70`). A variant
    with neither is the control. `prompt` (drafting_prompt: prompts/draft_system*.j2 or
    draft_user*.j2) / `template` (offline_template: prompts/offline_draft_subject*.j2 or
    offline_draft_body*.j2) name a template that stands in for the one its name starts with
    (`template_slot`); ".j2" may be left off. It is checked here to exist, have a version
    header, compile and use no variable the template it replaces is not given, and the
    drafters render it in its place (`DraftRequest.templates`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(default="", max_length=500)
    prompt: str | None = None
    template: str | None = None
    instruction: str | None = Field(default=None, max_length=500)
    thresholds: dict[str, float] = {}

    @field_validator("prompt", "template")
    @classmethod
    def _prompt_file(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "." not in value and "/" not in value and "\\" not in value:
            value += ".j2"  # `template = "offline_draft_body_short"` names the file
        path = PROMPTS_DIR / value
        if path.parent != PROMPTS_DIR or not value.endswith(".j2") or not path.is_file():
            known = ", ".join(sorted(p.name for p in PROMPTS_DIR.glob("*.j2")))
            raise ValueError(f"{value!r} is not a template file in prompts/ (known: {known})")
        check_template_variant(value)
        return value

    @field_validator("thresholds")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        for path, number in value.items():
            if not math.isfinite(number):
                raise ValueError(f"thresholds.{path} must be a finite number")
        return value


# The templates a variant may stand in for, by field, and the values each is rendered with
# besides those of the template it replaces: `base_template`, the name of that template (in the
# lead's language for the offline ones), so a variant can `{% include base_template %}`.
_SLOTS = {"prompt": DRAFT_TEMPLATES, "template": OFFLINE_DRAFT_TEMPLATES}
BASE_TEMPLATE_VALUE = "base_template"


def template_slot(name: str) -> str | None:
    """The default template `name` stands in for: the longest default whose stem starts it
    ("offline_draft_body_short.j2" -> "offline_draft_body.j2"), else None."""
    stems = [d for d in (*DRAFT_TEMPLATES, *OFFLINE_DRAFT_TEMPLATES) if name.startswith(d[:-3])]
    return max(stems, key=len) if stems else None


def check_template_variant(name: str) -> None:
    """A variant template must render where its default does: a version header (the draft
    records it), valid Jinja, included templates that exist, and no variable the default is not
    given (so StrictUndefined cannot fail on a lead's draft). ValueError names the fault."""
    from jinja2 import TemplateSyntaxError, meta

    slot = template_slot(name)
    if slot is None:
        raise ValueError(f"{name!r} replaces no drafting template: its name must start with "
                         + ", ".join(d[:-3] for d in (*DRAFT_TEMPLATES, *OFFLINE_DRAFT_TEMPLATES)))
    try:
        prompt_version(name)
        env = environment()
        parsed = env.parse((PROMPTS_DIR / name).read_text(encoding="utf-8"))
        base = env.parse((PROMPTS_DIR / slot).read_text(encoding="utf-8"))
    except TemplateSyntaxError as exc:
        raise ValueError(f"{name}: line {exc.lineno}: {exc.message}") from None
    for included in meta.find_referenced_templates(parsed):
        if included is not None and not (PROMPTS_DIR / included).is_file():
            raise ValueError(f"{name} includes {included!r}, which is not in prompts/")
    unknown = (meta.find_undeclared_variables(parsed) - meta.find_undeclared_variables(base)
               - {BASE_TEMPLATE_VALUE})
    if unknown:
        raise ValueError(f"{name} uses {', '.join(sorted(unknown))}, which {slot} is not given")


# What each stage's variants may change.
_ALLOWED = {"drafting_prompt": {"prompt", "instruction"},
            "offline_template": {"template", "instruction"},
            "policy_threshold": {"thresholds"}}


class Experiment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    stage: Stage
    description: str = Field(default="", max_length=1000)
    variants: list[Variant] = Field(min_length=2, max_length=10)
    split: list[float]
    starts_at: datetime
    ends_at: datetime | None = None

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone, e.g. 2026-12-01T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name}: variant names repeat ({', '.join(names)})")
        if len(self.split) != len(self.variants):
            raise ValueError(f"experiment {self.name}: split has {len(self.split)} shares for "
                             f"{len(self.variants)} variants")
        if any(not math.isfinite(s) or s <= 0 for s in self.split):
            raise ValueError(f"experiment {self.name}: every split share must be above 0")
        if abs(sum(self.split) - 1) > 1e-6:
            raise ValueError(f"experiment {self.name}: split must sum to 1 "
                             f"(it sums to {sum(self.split):g})")
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError(f"experiment {self.name}: ends_at must be after starts_at")
        for variant in self.variants:
            for field, name in (("prompt", variant.prompt), ("template", variant.template)):
                if name and template_slot(name) not in _SLOTS[field]:
                    raise ValueError(
                        f"experiment {self.name}, variant {variant.name}: {field} {name!r} must "
                        f"be named after the template it replaces: "
                        f"{' / '.join(s[:-3] + '*.j2' for s in _SLOTS[field])}")
        allowed = _ALLOWED[self.stage]
        for variant in self.variants:
            used = {k for k in ("prompt", "template", "instruction", "thresholds")
                    if getattr(variant, k)}
            if used - allowed:
                raise ValueError(f"experiment {self.name}: stage {self.stage} variants may set "
                                 f"{' / '.join(sorted(allowed))}, not "
                                 f"{', '.join(sorted(used - allowed))} (variant {variant.name})")
        return self

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)


def check_experiments(experiments: list[Experiment], policy: BaseModel) -> None:
    """The checks that need the whole policy: unique names, and every threshold a number the
    policy has, whose override still makes a valid policy (band A above B, ...)."""
    names = [e.name for e in experiments]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"experiments: names repeat: {', '.join(repeated)}")
    for experiment in experiments:
        for variant in experiment.variants:
            if variant.thresholds:
                try:
                    with_thresholds(policy, variant.thresholds)
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"experiments: {experiment.name}, variant {variant.name}: "
                                     f"{exc.args[0] if exc.args else exc}") from None


def assign(experiment: Experiment, lead_id: str) -> str:
    """The variant for this lead: sha256(name:lead_id) read as a number in [0, 1), placed on the
    cumulative split. Same answer in every process and on every run."""
    digest = hashlib.sha256(f"{experiment.name}:{lead_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    total = 0.0
    for variant, share in zip(experiment.variants, experiment.split, strict=True):
        total += share
        if point < total:
            return variant.name
    return experiment.variants[-1].name


def running(experiment: Experiment, now: datetime, *, stopped: bool = False) -> bool:
    """Taking new leads: started, not ended, not stopped."""
    if stopped or now < experiment.starts_at:
        return False
    return experiment.ends_at is None or now < experiment.ends_at


def applies(experiment: Experiment, now: datetime) -> bool:
    """A lead that already has a variant gets it until the experiment ends (a stop only ends
    new assignments, so a lead never switches mid-conversation)."""
    return now >= experiment.starts_at and (experiment.ends_at is None or now < experiment.ends_at)


def with_thresholds(policy: Any, thresholds: dict[str, float]) -> Any:
    """A copy of `policy` with the numbers at these dotted paths replaced; the model holding
    each number is validated again. KeyError / TypeError / ValueError name the path at fault."""
    for path, value in sorted(thresholds.items()):
        policy = _replace(policy, path.split("."), value, path)
    return policy


def _replace(node: Any, parts: list[str], value: float, path: str) -> Any:
    head, rest = parts[0], parts[1:]
    if isinstance(node, BaseModel):
        if head not in type(node).model_fields:
            raise KeyError(f"{path}: the policy has no {head!r} here")
        child = getattr(node, head)
    elif isinstance(node, dict):
        if head not in node:
            raise KeyError(f"{path}: the policy has no {head!r} here")
        child = node[head]
    else:
        raise TypeError(f"{path}: {head!r} is inside a value that is not a table")
    if rest:
        new_child = _replace(child, rest, value, path)
    else:
        if isinstance(child, bool) or not isinstance(child, int | float):
            raise TypeError(f"{path} is not a number in the policy")
        new_child = int(value) if isinstance(child, int) and float(value).is_integer() else value
    if isinstance(node, dict):
        return {**node, head: new_child}
    if rest:
        return node.model_copy(update={head: new_child})
    try:
        return type(node).model_validate({**node.model_dump(), head: new_child})
    except ValueError as exc:
        raise ValueError(f"{path} = {value:g} makes the policy invalid ({exc})") from None
