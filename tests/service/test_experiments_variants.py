"""Issue 19, the gaps of the first build: a variant may name another drafting template (checked
at start-up, rendered by the drafters, named in the draft's prompt version), "short vs long first
email" through the real flow, a threshold variant followed by the SLA rescue, and reps blind to
a lead's variant (an experiment's instruction is never named on the card)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agent.drafting import ModelDrafter, OfflineDrafter
from agent.experiments import Variant, assign
from prompts import DRAFT_TEMPLATES, OFFLINE_DRAFT_TEMPLATES, prompt_set_version
from store.tables import Approval
from tests.agent.drafting_helpers import ask
from tests.conftest import LEAD_ADA, TOKEN, hand_raise, make_settings
from tests.flow import decide, ingest
from tests.service.audit_log import audits
from tests.service.experiments_helpers import assignments, outcomes, policy_with_experiments

SHORT, LONG = "offline_draft_body_short.j2", "offline_draft_body_long.j2"
BODY = OFFLINE_DRAFT_TEMPLATES[1]
# What the card offers a person, with or without an experiment (agent/hitl_protocol.py).
GATE = [{"action_name": "send_email", "allowed_decisions": ["approve", "edit", "reject", "respond"]},
        {"action_name": "escalate", "allowed_decisions": ["approve", "edit", "reject"]}]

LENGTH_TOML = """
[[experiments]]
name = "first-email-length"
stage = "offline_template"
description = "short vs long first email"
split = [0.5, 0.5]
starts_at = 2026-11-01T00:00:00Z
ends_at = 2026-12-15T00:00:00Z
[[experiments.variants]]
name = "long"
template = "offline_draft_body_long"
[[experiments.variants]]
name = "short"
template = "offline_draft_body_short"
"""


def words(text: str) -> int:
    return len(text.split())


@contextmanager
def running(folder: Path, clock: Any, library: Any, smtp: Any, extra: str) -> Iterator[Any]:
    """A runtime on a policy with `extra` experiments, its worker and an API client."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime
    from service.worker import Worker

    folder.mkdir(exist_ok=True)
    settings = make_settings(folder, smtp_url=smtp.url,
                             policy_file=policy_with_experiments(folder, extra))
    rt = build_runtime(settings, clock=clock, library_override=library)
    rt.db.upgrade()
    worker = Worker(rt, threads=2)
    try:
        with TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            yield rt, worker, client
    finally:
        worker.stop()
        rt.close()


def _forced(stage: str, index: int, change: str) -> str:
    """One experiment putting (almost) everybody in variant `index` (0: control)."""
    split = [1e-9, 1 - 1e-9] if index == 1 else [1 - 1e-9, 1e-9]
    return f"""
[[experiments]]
name = "forced"
stage = "{stage}"
split = {split}
starts_at = 2026-11-01T00:00:00Z
[[experiments.variants]]
name = "control"
[[experiments.variants]]
name = "changed"
{change}
"""


# -- start-up checks --------------------------------------------------------------------------

@pytest.fixture
def prompt_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """prompts/ as a copy the test may add bad templates to."""
    import shutil

    import agent.experiments
    import prompts

    folder = tmp_path / "prompts"
    shutil.copytree(prompts.PROMPTS_DIR, folder, ignore=shutil.ignore_patterns("*.py*"))
    monkeypatch.setattr(agent.experiments, "PROMPTS_DIR", folder)
    monkeypatch.setattr(prompts, "PROMPTS_DIR", folder)
    return folder


@pytest.mark.parametrize(("text", "message"), [
    ("{# version: x-v1 #}\nHi {{ first_name }}, {{ discount_code }}",
     "uses discount_code, which offline_draft_body.j2 is not given"),
    ("Hi {{ first_name }}", "has no '{# version: ... #}' header"),
    ("{# version: x-v1 #}\n{% if short %}Hi", "line 2"),
    ('{# version: x-v1 #}\n{% include "offline_draft_body_gone.j2" %}',
     "includes 'offline_draft_body_gone.j2', which is not in prompts/"),
])
def test_a_template_variant_that_could_not_render_is_refused(prompt_folder, text,
                                                             message) -> None:
    name = f"offline_draft_body_bad{abs(hash(text)) % 10**6}"
    (prompt_folder / f"{name}.j2").write_text(text)
    with pytest.raises(ValueError, match="validation error") as failed:
        Variant(name="bad", template=name)
    assert message in str(failed.value)


def test_the_shipped_variant_templates_pass_and_name_their_slot() -> None:
    assert Variant(name="s", template="offline_draft_body_short").template == SHORT
    assert Variant(name="l", template=LONG).template == LONG
    assert Variant(name="p", prompt="draft_system_short").prompt == "draft_system_short.j2"


# -- the drafters -----------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
def test_short_and_long_templates_differ_in_length_in_every_language(language) -> None:
    drafter = OfflineDrafter()
    plain = drafter.draft(ask(language=language))
    short = drafter.draft(ask(language=language, templates={BODY: SHORT}))
    long = drafter.draft(ask(language=language, templates={BODY: LONG}))
    assert words(short.body) < words(plain.body) < words(long.body), (short.body, long.body)
    assert short.body.split()[0] == long.body.split()[0] == plain.body.split()[0]  # same greeting
    assert short.subject == long.subject == plain.subject
    # The recorded version names the variant's template; the default draft's is unchanged.
    assert plain.prompt_version == prompt_set_version(*_defaults(language))
    assert short.prompt_version.split("@")[0] == "offline-draft-v2+offline-draft-short-v1"
    assert long.prompt_version.split("@")[0] == "offline-draft-v2+offline-draft-long-v1"
    assert plain.note == short.note == long.note  # the card cannot tell the variant


def _defaults(language: str) -> tuple[str, str]:
    suffix = "" if language == "en" else f".{language}"
    return (f"offline_draft_subject{suffix}.j2", f"offline_draft_body{suffix}.j2")


def test_a_rep_revising_a_short_variant_draft_is_followed_and_named() -> None:
    drafter = OfflineDrafter()
    short = drafter.draft(ask(templates={BODY: SHORT}))
    longer = drafter.draft(ask(templates={BODY: SHORT}, instruction="make it longer",
                               previous=short))
    assert words(longer.body) > words(short.body)
    assert longer.note == "offline draft: followed: made it longer"


def test_the_model_drafter_renders_the_variant_prompt_and_records_it() -> None:
    drafter = ModelDrafter.__new__(ModelDrafter)  # messages() needs no chat model
    drafter.sender_role = "sales rep"
    plain = dict(drafter.messages(ask()))
    varied = dict(drafter.messages(ask(templates={DRAFT_TEMPLATES[0]: "draft_system_short.j2"})))
    assert varied["system"].startswith(plain["system"])
    assert varied["system"].endswith("about 60 words in 2 short paragraphs, with one question.")
    assert varied["human"] == plain["human"]


# -- through the flow -------------------------------------------------------------------------

def test_short_vs_long_first_email_through_the_flow(tmp_path, clock, content_library,
                                                    smtp_sink) -> None:
    """Leads of both arms get visibly different drafts; every card still waits for its
    assignee, nothing is sent before, and the card does not say which arm it is."""
    from agent.experiments import Experiment

    experiment = Experiment.model_validate({
        "name": "first-email-length", "stage": "offline_template", "split": [0.5, 0.5],
        "starts_at": "2026-11-01T00:00:00Z",
        "variants": [{"name": "long"}, {"name": "short"}]})
    with running(tmp_path / "len", clock, content_library, smtp_sink, LENGTH_TOML) as (
            rt, worker, client):
        # Lead ids are random, so six leads all land in one arm 3% of the time: add leads
        # until both arms have one (at most 30; all in one arm then: 2 in a billion).
        leads, cards = 0, []
        while leads < 6 or (leads < 30 and len({assign(experiment, c["lead_id"])
                                                 for c in cards}) < 2):
            lead = dict(LEAD_ADA, email=f"len{leads}@acme.io")
            ingest(client, hand_raise(f"len{leads}", lead=lead))
            leads += 1
            worker.run_until_idle()
            cards = client.get("/v1/approvals", params={"status": "pending"}).json()
        assert len(cards) == leads
        by_arm: dict[str, list[int]] = {"long": [], "short": []}
        for card in cards:
            arm = assignments(rt)[("first-email-length", card["lead_id"])]
            assert arm == assign(experiment, card["lead_id"])
            by_arm[arm].append(words(card["draft"]["body"]))
            assert card["request"]["review_configs"] == GATE
            assert card["status"] == "pending" and card["send_status"] == "not_applicable"
            assert card["draft"]["note"] == "offline draft"
        assert by_arm["long"] and by_arm["short"], by_arm
        assert max(by_arm["short"]) < min(by_arm["long"]), by_arm
        drafted = {o.approval_id: o.variant for o in outcomes(rt, "drafted")}
        assert sorted(drafted.values()) == sorted(
            arm for arm, counts in by_arm.items() for _ in counts)
        # Each approval records the template that wrote it (the store, not the card).
        with rt.db.read() as s:
            versions = dict(s.execute(select(Approval.id, Approval.prompt_version)).all())
        for approval_id, arm in drafted.items():
            assert versions[approval_id].startswith(f"offline-draft-v2+offline-draft-{arm}-v1@")
        worker.run_until_idle()
        assert smtp_sink.messages == []
        card = cards[0]
        assert decide(client, card["approval_id"], action="approve",
                      actor="stranger@elsewhere.example").status_code == 403
        assert decide(client, card["approval_id"], action="approve",
                      actor=card["assignee"]).status_code == 200
        worker.run_until_idle()
        assert len(smtp_sink.messages) == 1


def test_an_experiment_instruction_is_not_shown_to_the_rep_but_the_reps_own_is(
        tmp_path, clock, content_library, smtp_sink) -> None:
    from slack_app.blocks.card import draft_blocks

    extra = _forced("offline_template", 1, 'instruction = "write in a formal tone"')
    with running(tmp_path / "blind", clock, content_library, smtp_sink, extra) as (
            rt, worker, client):
        ingest(client, hand_raise("bl"))
        worker.run_until_idle()
        [card] = client.get("/v1/approvals", params={"status": "pending"}).json()
        assert assignments(rt)[("forced", card["lead_id"])] == "changed"
        draft = card["draft"]
        # The instruction was followed (the formal greeting and sign-off) without a word.
        assert draft["body"].startswith("Dear ") and "Kind regards" in draft["body"]
        assert draft["note"] == "offline draft"
        blocks = str(draft_blocks(draft["subject"], draft["body"], draft, card["version"]))
        assert "followed" not in blocks and "formal" not in blocks
        assert "formal tone" not in str(card)
        # The rep's own instruction is named on the next card.
        assert decide(client, card["approval_id"], action="revise", actor=card["assignee"],
                      instruction="make it longer").status_code == 200
        worker.run_until_idle()
        [revised] = client.get("/v1/approvals", params={"status": "pending"}).json()
        assert revised["draft"]["note"] == "offline draft: followed: made it longer"
        assert "followed: made it longer" in str(draft_blocks(
            revised["draft"]["subject"], revised["draft"]["body"], revised["draft"],
            revised["version"]))


# -- the SLA rescue follows the lead's thresholds ---------------------------------------------

@pytest.mark.parametrize(("index", "minutes"), [(0, 15), (1, 5)])
def test_the_rescue_reminds_and_escalates_on_the_variants_sla(
        tmp_path, clock, content_library, smtp_sink, index, minutes) -> None:
    """`sla.hand_raise.minutes` 15 (the policy) vs 5 (the variant): the reminder fires at the
    variant's time, and the second breach (escalation) one variant SLA later."""
    extra = _forced("policy_threshold", index, 'thresholds = { "sla.hand_raise.minutes" = 5 }')
    with running(tmp_path / f"sla{index}", clock, content_library, smtp_sink, extra) as (
            rt, worker, client):
        ingest(client, hand_raise("sl"))
        worker.run_until_idle()
        [card] = client.get("/v1/approvals", params={"status": "pending"}).json()
        clock.advance(minutes=minutes - 1)
        worker.run_until_idle()
        assert audits(rt, "sla_reminder") == []
        clock.advance(minutes=2)
        worker.run_until_idle()
        assert len(audits(rt, "sla_reminder")) == 1
        clock.advance(minutes=minutes - 2)  # just before the variant's second SLA period
        worker.run_until_idle()
        assert audits(rt, "sla_escalated") == []
        clock.advance(minutes=2)
        worker.run_until_idle()
        [escalation] = audits(rt, "sla_escalated")
        [v2] = client.get("/v1/approvals", params={"status": "pending"}).json()
        assert v2["assignee"] == escalation.detail["new_owner"] != card["assignee"]
        # The new owner's SLA is the variant's too; nothing went to the lead.
        assert v2["sla_due_at"].startswith(
            (clock.now() + timedelta(minutes=minutes))
            .isoformat()[:16])
        assert [m for m in smtp_sink.messages if m.rcpt_tos == [card["draft"]["to"]]] == []


def test_the_shipped_commented_example_loads_with_the_template_variants(tmp_path) -> None:
    from agent.policy import load_policy
    from config.settings import DEFAULTS_DIR

    text = (DEFAULTS_DIR / "policy.toml").read_text()
    example = text[text.index("# [[experiments]]"):]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                            for line in example.splitlines())
    policy = load_policy(policy_with_experiments(tmp_path, uncommented))
    length = next(e for e in policy.experiments if e.name == "first-email-length")
    assert [v.template for v in length.variants] == [LONG, SHORT]
