"""`hitl tune`: evidence in, a reviewable policy diff out, nothing applied."""

from __future__ import annotations

from agent.policy import load_policy
from service.tuning import propose
from tests.conftest import LEAD_ADA, hand_raise
from tests.flow import decide, ingest


def seed(client, worker, outcomes: list[str]) -> None:
    for i in range(len(outcomes)):
        lead = dict(LEAD_ADA, email=f"p{i}@acme{i}.io", domain=f"acme{i}.io")
        ingest(client, hand_raise(prefix=f"t{i}", lead=lead))
    worker.run_until_idle()
    cards = client.get("/v1/approvals").json()
    assert len(cards) == len(outcomes)
    for card, code in zip(cards, outcomes, strict=True):
        response = decide(client, card["approval_id"], action="reject", actor="U0MGR0001",
                          reason_code=code)
        assert response.status_code == 200
    worker.run_until_idle()


def test_too_many_wrong_fits_raise_band_a(client, worker, rt, tmp_path) -> None:
    seed(client, worker, ["not_icp"] * 4 + ["no_response"] * 6)
    original = rt.settings.policy_file.read_text()
    proposal = propose(rt, min_cases=10)
    assert proposal.by_band["A"].cases == 10
    assert proposal.by_band["A"].wrong_fit == 4
    paths = {c.path: c for c in proposal.changes}
    assert paths["bands.A"].old == 65 and paths["bands.A"].new == 70
    assert "4/10" in paths["bands.A"].evidence
    # The demo form led nowhere in these cases: its weight is proposed down, with evidence.
    assert paths["scoring.form_weights.demo"].new < paths["scoring.form_weights.demo"].old
    assert "-A = 65" in proposal.diff and "+A = 70" in proposal.diff
    assert rt.settings.policy_file.read_text() == original  # never applied silently
    written = tmp_path / "proposed.toml"
    written.write_text(proposal.proposed_text)
    tuned = load_policy(written)
    assert tuned.bands.A == 70 and tuned.version == f"{rt.policy.version}-tuned"
    assert "proposed by `hitl tune`" in tuned.changelog[-1]
    assert "# Handoff policy" in proposal.proposed_text  # comments survive


def test_no_change_without_enough_evidence(client, worker, rt) -> None:
    seed(client, worker, ["not_icp"] * 3)
    proposal = propose(rt, min_cases=10)
    assert proposal.changes == [] and proposal.diff == ""


def test_good_conversions_raise_a_signal_weight(client, worker, rt) -> None:
    seed(client, worker, ["meeting_set"] * 7 + ["connected"] * 3)
    proposal = propose(rt, min_cases=10)
    demo = next(c for c in proposal.changes if c.path == "scoring.form_weights.demo")
    assert demo.new > demo.old and "10/10" in demo.evidence
