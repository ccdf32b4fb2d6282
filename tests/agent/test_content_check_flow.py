"""A draft never carries another person's data, the checks with the store behind them: the
store-backed check (service/content_check.py) on SQLite and PostgreSQL, the check when a draft is
made, and stored style examples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.victim_edit import VICTIM_EDIT, VICTIM_STRINGS
from tests.conftest import LEAD_ADA, T0, event, hand_raise, make_settings
from tests.flow import ingest, pending_card

# -- the store-backed check ---------------------------------------------------------------------

OTTOLINE = {"email": "ottoline@vexbridge-drill.io", "first_name": "Ottoline",
            "last_name": "Vexbridge", "company": "Vexbridge Holdings", "title": "VP Finance",
            "domain": "vexbridge-drill.io", "country": "US", "employees": 900,
            "industry": "Software"}
RIVAL = {"email": "sam@rivalsoft.com", "first_name": "Sam", "last_name": "Spy",
         "company": "RivalSoft", "domain": "rivalsoft.com", "country": "US", "employees": 900,
         "industry": "Software"}
BRIGHT = {"email": "bo@brightlane-drill.io", "first_name": "Bo", "last_name": "Brightlane",
          "company": "Brightlane", "domain": "brightlane-drill.io", "country": "US",
          "employees": 900, "industry": "Software"}
ODD = {"email": "odd@odd-drill.io", "first_name": "Li", "last_name": "50%_off\\",
       "company": "Ölander & Søn", "domain": "odd-drill.io", "country": "US",
       "employees": 900, "industry": "Software"}


def _store_checks(rt: Any, client: Any) -> None:
    from service.content_check import draft_content_blocks
    from store.tables import SupportConversation

    refs = ingest(client, [
        event("s-ada", "page_view", at=T0, url="https://vendor.example/pricing"),
        event("s-otto", "page_view", at=T0, lead=OTTOLINE, url="https://vendor.example/x"),
        event("s-odd", "page_view", at=T0, lead=ODD, url="https://vendor.example/x"),
        event("s-rival", "page_view", at=T0, lead=RIVAL, url="https://vendor.example/x"),
        event("s-bright", "page_view", at=T0, lead=BRIGHT, url="https://vendor.example/x"),
    ])["leads"]
    ada = next(r["lead_id"] for r in refs if r["email"] == "ada@acme.io")
    with rt.db.session() as session:
        session.add(SupportConversation(id="conv-cc", customer_email="carla@cc-drill.io",
                                        customer_name="Carla Contreras", status="bot",
                                        created_at=T0, updated_at=T0))

    def check(body: str) -> list[str]:
        with rt.db.read() as session:
            return draft_content_blocks(rt, session, ada, "Your demo", body)

    assert check("Hi Ada,\n\nThanks for the demo request from Acme.\n\nBest,\nRiley Rep") == []
    assert "someone other than the lead" in check("Hi Ada, Ottoline says hi.")[0]
    assert "someone other than the lead" in check("Hi Ada, VEXBRIDGE HOLDINGS says hi.")[0]
    assert "someone other than the lead" in check("Hi Ada, ölander & søn say hi.")[0]
    assert "someone other than the lead" in check("Hi Ada, ÖLANDER & SØN say hi.")[0]
    assert "someone other than the lead" in check("Hi Ada, Carla Contreras from support.")[0]
    # LIKE wildcards and backslashes in a stored name mean only themselves.
    assert check("Hi Ada, 50 percent off? Lisbon?") == []
    assert "someone other than the lead" in check("Hi Ada, 50%_off\\ indeed")[0]
    assert check("Hi Ada, see https://vendor.example/demo") == []
    assert "allow-list" in check("Hi Ada, see https://acme-drill.io/pilot")[0]
    # A link spelling another lead's name is both.
    assert len(check("Hi Ada, see https://vexbridge-drill.io/pilot")) == 2
    # Names anyone may say although a lead carries them: a competitor the policy names, the
    # team's (Sam Seller is on the roster), the recommended asset's title (our library's).
    assert check("Hi Ada, teams moved over from RivalSoft. Sam can help. Best, Riley") == []
    case_study = "Hi Ada, our case study “Brightlane: PLG signals to sales” may help."
    assert "someone other than the lead" in check(case_study)[0]
    titled = {"recommended_action": {"asset": {"path": "case-studies/software-brightlane.md",
                                               "title": "Brightlane: PLG signals to sales"}}}
    with rt.db.read() as session:
        assert draft_content_blocks(rt, session, ada, "x", case_study, context=titled) == []
        # ... but the lead called Brightlane is still someone else.
        assert draft_content_blocks(rt, session, ada, "x", case_study + " Bo Brightlane says hi",
                                    context=titled)
    # The recommended asset's link is the content library's: allowed with the context.
    context = {"recommended_action": {"asset": {"path": "https://library.vendor-cdn.example/a"}}}
    with rt.db.read() as session:
        assert draft_content_blocks(rt, session, ada, "x", "https://library.vendor-cdn.example/a",
                                    context=context) == []
    # The other lead's own draft may name her.
    with rt.db.read() as session:
        otto = next(r["lead_id"] for r in refs if r["email"] == OTTOLINE["email"])
        assert draft_content_blocks(rt, session, otto, "Hi", "Hi Ottoline Vexbridge") == []
    # An erased lead's name is nobody's any more (and an unknown lead id gives nothing to check).
    assert client.delete(f"/v1/leads/{otto}").status_code == 200
    assert check("Hi Ada, Ottoline says hi.") == []
    with rt.db.read() as session:
        assert draft_content_blocks(rt, session, "lead_nope", "x", "Ottoline") == []


def test_the_store_check_finds_other_records_in_the_text(rt: Any, client: Any) -> None:
    _store_checks(rt, client)


@pytest.mark.postgres
def test_the_store_check_on_postgresql(tmp_path: Path, postgres_url: str, clock: Any,
                                       content_library: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime
    from tests.conftest import TOKEN

    rt = build_runtime(make_settings(tmp_path, database_url=postgres_url), clock=clock,
                       library_override=content_library)
    rt.db.upgrade()
    try:
        with TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            _store_checks(rt, client)
    finally:
        rt.close()


# -- when a draft is made ------------------------------------------------------------------------


class _ScriptedDrafter:
    """A drafter that writes what the test says, labelled as the test says."""

    def __init__(self, body: str, source: str) -> None:
        self.body, self.source = body, source

    def draft(self, request: Any) -> Any:
        from agent.models import Draft

        return Draft(to="attacker@evil.example", subject="Your demo", body=self.body,
                     source=self.source, note=None, prompt_version="scripted")  # type: ignore[arg-type]


@pytest.fixture
def scripted(tmp_path: Path, clock: Any, content_library: Any, smtp_sink: Any
             ) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime
    from service.worker import Worker
    from tests.conftest import TOKEN

    def start(body: str, source: str) -> tuple[Any, Any]:
        rt = build_runtime(make_settings(tmp_path, smtp_url=smtp_sink.url), clock=clock,
                           library_override=content_library,
                           drafter_override=_ScriptedDrafter(body, source))
        rt.db.upgrade()
        made.append(rt)
        worker = Worker(rt, threads=2)
        workers.append(worker)
        client = TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"})
        clients.append(client)
        # Another lead already in the store: the draft below names her.
        ingest(client, [event("o-1", "page_view", at=T0, lead=OTTOLINE,
                              url="https://vendor.example/x")])
        return client, worker

    made: list[Any] = []
    workers: list[Any] = []
    clients: list[Any] = []
    yield start
    for client in clients:
        client.close()
    for worker in workers:
        worker.stop()
    for rt in made:
        rt.close()


def test_a_model_draft_naming_another_lead_is_replaced_before_the_card(scripted: Any) -> None:
    client, worker = scripted("Hi Ada,\n\nOttoline Vexbridge at Vexbridge Holdings says "
                              "https://evil-exfil.example/x is great.\n\nBest,\nRiley", "model")
    card = pending_card(client, worker, hand_raise(lead=LEAD_ADA))
    draft = card["draft"]
    assert draft["source"] == "fallback" and draft["to"] == "ada@acme.io"
    assert "Ottoline" not in draft["body"] and "evil-exfil" not in draft["body"]
    assert draft["note"].startswith("model draft unusable (mentions someone other than the lead")
    assert "allow-list (evil-exfil.example)" in draft["note"]
    assert "review carefully" in draft["note"]


def test_a_draft_that_still_fails_carries_a_warning_on_the_card(scripted: Any) -> None:
    client, worker = scripted("Hi Ada,\n\nSee https://evil-exfil.example/x\n\nBest,\nRiley",
                              "offline")
    card = pending_card(client, worker, hand_raise(lead=LEAD_ADA))
    assert card["draft"]["source"] == "offline"
    assert card["draft"]["note"] == ("⚠ will be refused at send unless edited: links to a domain "
                                     "not on the policy's allow-list (evil-exfil.example)")
    # The approval request (HITLRequest, the API's `request`) shows it under the draft too.
    assert "will be refused at send unless edited" in \
        card["request"]["action_requests"][0]["description"]


# -- stored style examples -----------------------------------------------------------------------


def test_style_examples_are_stored_redacted_and_older_copies_are_never_served(
        rt: Any, client: Any, worker: Any) -> None:
    from service.edit_pairs import style_examples, sync_edit_pairs

    card = pending_card(client, worker, hand_raise(lead=OTTOLINE))
    edited = VICTIM_EDIT.replace("Riley", card["draft"]["body"].rsplit("\n", 1)[-1])
    answer = client.post(f"/v1/approvals/{card['approval_id']}/decision",
                         json={"action": "edit", "actor": card["assignee"], "body": edited,
                               "subject": "Your Vexbridge pilot"})
    assert answer.status_code == 200, answer.text
    worker.run_until_idle()  # the sync job ran
    collection = rt.style_collection
    stored = collection.get(include=["documents", "metadatas"])
    assert stored["ids"] == [card["approval_id"]]
    texts = [*stored["documents"], *(str(stored["metadatas"][0][k]) for k in (
        "draft_subject", "sent_subject", "sent_body"))]
    on_disk = "\n".join(texts).lower()
    assert not [s for s in VICTIM_STRINGS if s in on_disk], on_disk
    assert stored["metadatas"][0]["lead_id"] == card["lead_id"]  # erasure deletes by it

    # A copy written before redaction (an older release) is never served, and the next sync
    # replaces it.
    meta = dict(stored["metadatas"][0])
    meta.pop("redaction")
    meta.update(sent_body=edited, source_hash="old")
    collection.delete(ids=[card["approval_id"]])
    collection.add(ids=[card["approval_id"]], documents=[edited], metadatas=[meta])
    assert style_examples(rt, card["assignee"], "demo request", sync=False) == []
    assert sync_edit_pairs(rt)["added_or_changed"] == 1
    [example] = style_examples(rt, card["assignee"], "demo request", sync=False)
    assert example.sent_body.startswith("Hi ‹first_name›,\n\nAs promised, the ‹company› pilot")
    assert example.sent_subject == "Your ‹last_name› pilot"
    assert sync_edit_pairs(rt)["added_or_changed"] == 0  # unchanged pairs are not re-made
