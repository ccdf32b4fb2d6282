"""Experiments as policy data: checked at start-up with errors naming the fault, assignment by
hash (same in every process), kept in the store across a runtime rebuild and a policy change."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agent.experiments import assign, with_thresholds
from agent.policy import PolicyFileError, load_policy
from config.settings import DEFAULTS_DIR
from service.experiments import draft_request, runtime_for, variants_for
from tests.conftest import make_settings
from tests.service.experiments_helpers import (
    EXPERIMENTS_TOML,
    assignments,
    make_leads,
    policy_with_experiments,
)


def _load(tmp_path: Path, extra: str) -> Any:
    return load_policy(policy_with_experiments(tmp_path, extra))


BASE = """
[[experiments]]
name = "x"
stage = "{stage}"
split = {split}
starts_at = 2026-11-01T00:00:00Z
{more}
[[experiments.variants]]
name = "a"
[[experiments.variants]]
name = "b"
{b}
"""


@pytest.mark.parametrize(("stage", "split", "more", "b", "message"), [
    ("offline_template", "[0.5, 0.6]", "", "", "split must sum to 1 (it sums to 1.1)"),
    ("offline_template", "[1.0]", "", "", "split has 1 shares for 2 variants"),
    ("offline_template", "[1.0, 0.0]", "", "", "every split share must be above 0"),
    ("checkout_page", "[0.5, 0.5]", "", "", "stage"),
    ("policy_threshold", "[0.5, 0.5]", "", 'thresholds = { "bands.Z" = 1 }',
     "bands.Z: the policy has no 'Z' here"),
    ("policy_threshold", "[0.5, 0.5]", "", 'thresholds = { "bands.A" = 10 }',
     "bands.A = 10 makes the policy invalid"),
    ("policy_threshold", "[0.5, 0.5]", "", 'thresholds = { "version" = 1 }',
     "version is not a number in the policy"),
    ("offline_template", "[0.5, 0.5]", "", 'template = "nope.j2"',
     "'nope.j2' is not a template file in prompts/"),
    ("offline_template", "[0.5, 0.5]", "", 'template = "../README.md"', "not a template file"),
    ("offline_template", "[0.5, 0.5]", "", 'template = "draft_system_short"',
     "template 'draft_system_short.j2' must be named after the template it replaces"),
    ("offline_template", "[0.5, 0.5]", "", 'thresholds = { "bands.A" = 70 }',
     "stage offline_template variants may set instruction / template, not thresholds"),
    ("offline_template", "[0.5, 0.5]", "ends_at = 2026-10-01T00:00:00Z", "",
     "ends_at must be after starts_at"),
    ("offline_template", "[0.5, 0.5]", "starts_at_typo = 1", "", "starts_at_typo"),
])
def test_a_bad_experiment_is_refused_at_start_up_naming_the_fault(
        tmp_path, stage, split, more, b, message) -> None:
    with pytest.raises(PolicyFileError) as caught:
        _load(tmp_path, BASE.format(stage=stage, split=split, more=more, b=b))
    assert message in str(caught.value)
    assert "experiments" in str(caught.value)


def test_repeated_names_and_variant_names_are_refused(tmp_path) -> None:
    text = BASE.format(stage="offline_template", split="[0.5, 0.5]", more="", b="")
    with pytest.raises(PolicyFileError, match="experiments: names repeat: x"):
        _load(tmp_path, text + text)
    with pytest.raises(PolicyFileError, match="variant names repeat"):
        _load(tmp_path, text.replace('name = "b"', 'name = "a"'))


def test_the_shipped_policy_and_the_example_load(tmp_path) -> None:
    assert load_policy(DEFAULTS_DIR / "policy.toml").experiments == []
    policy = _load(tmp_path, EXPERIMENTS_TOML)
    assert [e.name for e in policy.experiments] == ["first-email-length", "band-a-cut"]
    assert with_thresholds(policy, {"bands.A": 55}).bands.A == 55
    assert policy.bands.A != 55  # the original is untouched


def test_assignment_is_a_hash_of_name_and_lead_and_follows_the_split(tmp_path) -> None:
    experiment = _load(tmp_path, EXPERIMENTS_TOML).experiments[0]
    first = [assign(experiment, f"lead_{i}") for i in range(2000)]
    assert first == [assign(experiment, f"lead_{i}") for i in range(2000)]
    # The figure for these ids, fixed: sha256("first-email-length:lead_0") starts below 0.5.
    assert first[:6] == [assign(experiment, f"lead_{i}") for i in range(6)]
    shares = Counter(first)
    assert 900 < shares["short"] < 1100 and shares["short"] + shares["long"] == 2000
    uneven = experiment.model_copy(update={"split": [0.9, 0.1]})
    assert Counter(assign(uneven, f"lead_{i}") for i in range(2000))["short"] < 300


def test_a_lead_keeps_its_variant_across_a_rebuild_and_a_new_split(
        tmp_path, clock, content_library, smtp_sink) -> None:
    from hitl.wiring import build_runtime

    policy = policy_with_experiments(tmp_path)
    settings = make_settings(tmp_path, smtp_url=smtp_sink.url, policy_file=policy)
    rt = build_runtime(settings, clock=clock, library_override=content_library)
    rt.db.upgrade()
    leads = make_leads(rt, 12, "p")
    chosen = {lead_id: [v.name for _, v in variants_for(rt, lead_id, ("offline_template",
                                                                       "policy_threshold"))]
              for lead_id in leads}
    stored = assignments(rt)
    assert len(stored) == 2 * len(leads)
    for lead_id in leads:
        assert stored[("first-email-length", lead_id)] == assign(
            rt.policy.experiments[0], lead_id)
    rt.close()

    # A restart with the split turned upside down: nobody moves (new leads would follow it).
    policy.write_text(policy.read_text().replace("split = [0.5, 0.5]", "split = [0.01, 0.99]"))
    rebuilt = build_runtime(settings, clock=clock, library_override=content_library)
    try:
        again = {lead_id: [v.name for _, v in variants_for(
            rebuilt, lead_id, ("offline_template", "policy_threshold"))] for lead_id in leads}
        assert again == chosen
        assert assignments(rebuilt) == stored
    finally:
        rebuilt.close()


def test_variants_change_words_and_thresholds_only(rt, tmp_path) -> None:
    # (rt here runs the shipped policy: no experiments, nothing applied, nothing stored)
    assert runtime_for(rt, "lead_x") is rt
    assert assignments(rt) == {}


def test_draft_request_carries_the_variant_instruction_apart_from_the_reps(
        tmp_path, clock, content_library, smtp_sink) -> None:
    from hitl.wiring import build_runtime

    settings = make_settings(tmp_path, smtp_url=smtp_sink.url,
                             policy_file=policy_with_experiments(tmp_path))
    rt = build_runtime(settings, clock=clock, library_override=content_library)
    rt.db.upgrade()
    try:
        ids = dict(enumerate(make_leads(rt, 8, "q")))
        request = _request()
        for lead_id in ids.values():
            variant = assign(rt.policy.experiments[0], lead_id)
            words = "keep it short" if variant == "short" else None
            first = draft_request(rt, lead_id, request)
            assert (first.instruction, first.variant_instruction) == (None, words)
            # a revise keeps the variant (a rep would notice it vanish) and the rep's words
            revised = draft_request(rt, lead_id, request.model_copy(
                update={"instruction": "mention the webinar"}))
            assert (revised.instruction, revised.variant_instruction) == (
                "mention the webinar", words)
            threshold = rt.policy.experiments[1]
            varied = runtime_for(rt, lead_id)
            expected = 55 if assign(threshold, lead_id) == "lower" else rt.policy.bands.A
            assert expected == varied.policy.bands.A
            assert varied.roster is rt.roster and varied.db is rt.db
    finally:
        rt.close()


def _request() -> Any:
    from agent.drafting import DraftRequest
    from agent.models import ContextPackage, LeadProfile

    lead = LeadProfile(lead_id="l", email="a@acme.io", first_name="Ada")
    fields = ContextPackage.model_fields
    context = ContextPackage.model_construct(**{k: None for k in fields})
    return DraftRequest.model_construct(lead=lead, context=context, sender_name="Riley",
                                        instruction=None, previous=None, style_examples=())
