"""Addresses are addresses (issue 13, class 3): one rule for lead and customer emails at every
entry, the SMTP envelope equal to the card's `draft.to` on a real SMTP conversation, and header
injection in a decision refused with a 422 before anything is recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from agent.email_rules import AddressError, lead_address, same_address
from hitl.event_files import EventFileError, read_events
from tests.conftest import LEAD_ADA, T0, event, hand_raise
from tests.flow import decide, ingest, pending_card

# Each is refused with a 422 wherever an address enters; the second item is what the error
# must say (in words), so the refusal explains itself.
HOSTILE_ADDRESSES: list[tuple[str, str]] = [
    ("a@x.io, b@y.io", "more than one address"),
    ("a@x.io;b@y.io", "more than one address"),
    ("a@x.io b@y.io", "whitespace"),
    ("@a.io,@b.io:user@x.io", "route"),
    ("Ada <ada@acme.io>", "display name"),
    ("<ada@acme.io>", "angle brackets"),
    ("ada(comment)@acme.io", "comment"),
    ("ada@acme.io(comment)", "comment"),
    ('"ada,b"@acme.io', "quoted"),
    ('"a\\"b"@acme.io', "quoted"),
    ("ada@acme.io\r\nBcc: c@z.io", "control character"),
    ("ada@acme.io\n", "control character"),
    ("ada\x00@acme.io", "control character"),
    ("ada@acme.io\u2028", "invisible"),
    ("a\u200bda@acme.io", "invisible"),
    ("ada\u202e@acme.io", "invisible"),
    ("\u0430da@acme.io", "Internationalized"),  # Cyrillic "а" in the local part
    ("\uff41da@acme.io", "Internationalized"),  # fullwidth "ａ"
    ("ada@acme\u3002io", "changes when normalised"),  # ideographic full stop as the dot
    ("ada@[127.0.0.1]", "IP-address"),
    ("ada@[IPv6:::1]", "IP-address"),
    ("ada%evil.io@acme.io", "relay route"),
    ("evil.io!ada@acme.io", "relay route"),
    ("ada@b@acme.io", "exactly one '@'"),
    ("ada@localhost", "period"),
    ("ada@mail.local", "special-use"),
    ("a" * 65 + "@acme.io", "too long"),
    ("a@" + "b" * 250 + ".io", "longer than 254"),
    ("", "empty"),
    ("not-an-email", "exactly one '@'"),
]


@pytest.mark.parametrize(("value", "why"), HOSTILE_ADDRESSES)
def test_the_rule_refuses_each_hostile_address_naming_the_field(value: str, why: str) -> None:
    with pytest.raises(AddressError) as caught:
        lead_address(value, "lead.email")
    assert str(caught.value).startswith("lead.email ")
    assert why.lower() in str(caught.value).lower(), str(caught.value)


@pytest.mark.parametrize(("value", "canonical"), [
    ("ada@acme.io", "ada@acme.io"),
    ("  Ada.Park@ACME.io  ", "ada.park@acme.io"),
    ("ada+q4@acme.io", "ada+q4@acme.io"),
    ("ada@Bücher.de", "ada@xn--bcher-kva.de"),
    ("ada@xn--bcher-kva.de", "ada@xn--bcher-kva.de"),
    # A Cyrillic look-alike domain is kept, but shown as what it is (punycode), never as acme.
    ("ada@\u0430cme.io", "ada@xn--cme-5cd.io"),
])
def test_the_rule_keeps_the_mailbox_and_only_normalises_case_and_idna(value: str,
                                                                      canonical: str) -> None:
    assert lead_address(value) == canonical
    assert lead_address(canonical) == canonical  # canonical is a fixed point
    assert same_address(value, canonical.upper())


def _lead_count(rt: Any) -> int:
    from store.tables import Lead

    with rt.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Lead)) or 0)


def test_api_events_refuse_every_hostile_address_and_store_nothing(client: Any, rt: Any) -> None:
    for value, why in HOSTILE_ADDRESSES:
        good = event("ok-1", "page_view", at=T0, url="https://vendor.example/pricing")
        bad = event("bad-1", "page_view", at=T0, lead={**LEAD_ADA, "email": value},
                    url="https://vendor.example/pricing")
        response = client.post("/v1/events", json={"events": [good, bad]})
        assert response.status_code == 422, (value, response.text)
        errors = response.json()["errors"]
        assert [e["field"] for e in errors] == ["events.1.lead.email"], (value, errors)
        assert why.lower() in errors[0]["message"].lower(), (value, errors)
    assert _lead_count(rt) == 0  # all or nothing: the good event in each batch was not stored


def test_api_events_store_the_canonical_address(client: Any) -> None:
    lead = {**LEAD_ADA, "email": " Ada@Bücher.DE "}
    [ref] = ingest(client, [event("e-1", "page_view", at=T0, lead=lead,
                                  url="https://vendor.example/pricing")])["leads"]
    assert ref["email"] == "ada@xn--bcher-kva.de"
    assert client.get(f"/v1/leads/{ref['lead_id']}").json()["email"] == "ada@xn--bcher-kva.de"


def _write_jsonl(path: Path, email: str) -> Path:
    rows = [event("f-1", "page_view", at=T0, url="https://vendor.example/pricing"),
            event("f-2", "page_view", at=T0, lead={**LEAD_ADA, "email": email},
                  url="https://vendor.example/pricing")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_ingest_files_refuse_hostile_addresses_in_jsonl_and_csv(tmp_path: Path) -> None:
    for number, (value, why) in enumerate(HOSTILE_ADDRESSES):
        with pytest.raises(EventFileError) as caught:
            read_events(_write_jsonl(tmp_path / f"e{number}.jsonl", value))
        assert "line 2: lead.email:" in str(caught.value), (value, str(caught.value))
        assert why.lower() in str(caught.value).lower(), (value, str(caught.value))
        assert "nothing was ingested" in str(caught.value)
    # CSV: quoted cells may hold commas, line breaks and NUL; each reaches the same rule.
    import csv

    for number, value in enumerate(["a@x.io, b@y.io", "ada@acme.io\r\nBcc: c@z.io",
                                    "Ada <ada@acme.io>", "ada\x00@acme.io"]):
        path = tmp_path / f"e{number}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["event_id", "type", "occurred_at", "email", "url"])
            writer.writerow(["c-1", "page_view", T0.isoformat(), value, "https://v.example/p"])
        with pytest.raises(EventFileError, match="lead.email"):
            read_events(path)


def test_ingest_files_that_are_not_utf8_are_a_clear_refusal(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'\xff\xfe{"event_id": "x"}\n')
    with pytest.raises(EventFileError, match="not a readable UTF-8 event file"):
        read_events(path)


def test_ingest_files_store_the_canonical_address(tmp_path: Path) -> None:
    [_, second] = read_events(_write_jsonl(tmp_path / "ok.jsonl", "ADA@Acme.IO"))
    assert second.lead.email == "ada@acme.io"


# -- the envelope over a real SMTP conversation ------------------------------------------------


def test_the_envelope_recipient_is_byte_for_byte_the_card_address(client: Any, worker: Any,
                                                                  smtp_sink: Any) -> None:
    lead = {**LEAD_ADA, "email": "  Ada.Park+Q4@Bücher.DE "}
    card = pending_card(client, worker, hand_raise(lead=lead))
    assert card["draft"]["to"] == "ada.park+q4@xn--bcher-kva.de"
    assert decide(client, card["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 200
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == [card["draft"]["to"]]
    assert mail.message.get_all("To") == [card["draft"]["to"]]
    assert mail.message.get_all("Cc") is None and mail.message.get_all("Bcc") is None


def _outbound(**overrides: Any) -> Any:
    from tools.email import OutboundEmail

    values: dict[str, Any] = dict(
        to="ada@acme.io", from_email="riley@example.com", from_name="Riley", subject="Hello",
        body="Hi Ada,\n\nBest,\nRiley", message_id="<t-1@example.com>",
        list_unsubscribe="<mailto:unsubscribe@example.com>", date=datetime(2026, 11, 18,
                                                                           tzinfo=UTC))
    values.update(overrides)
    return OutboundEmail(**values)


@pytest.mark.parametrize("overrides", [
    {"to": "ada@acme.io, mallory@evil.io"},
    {"to": "ada@acme.io;mallory@evil.io"},
    {"to": "Ada <ada@acme.io>"},
    {"to": "@evil.io:ada@acme.io"},
    {"to": "ada@acme.io\r\nBcc: mallory@evil.io"},
    {"to": "Ada@Acme.io"},  # not the canonical form the card showed
    {"subject": "Hello\r\nBcc: mallory@evil.io"},
    {"subject": "Hello\u2028Bcc: mallory@evil.io"},
    {"body": "Hi\x00there"},
])
def test_the_smtp_sender_refuses_what_could_change_the_recipients(smtp_sink: Any,
                                                                  overrides: dict[str, Any]
                                                                  ) -> None:
    from tools.email import SendError, SmtpEmailSender

    with pytest.raises(SendError) as caught:
        SmtpEmailSender(smtp_sink.url).send(_outbound(**overrides))
    assert caught.value.transient is False  # a final answer: never retried, never stuck
    SmtpEmailSender(smtp_sink.url).send(_outbound())
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["ada@acme.io"]]


# -- header injection at decision time ----------------------------------------------------------

HOSTILE_SUBJECTS = [
    "Quick question\r\nBcc: mallory@evil.io",
    "Quick question\nBcc: mallory@evil.io",
    "Quick question\rBcc: mallory@evil.io",
    "Quick question\x00",
    "Quick question\u2028Bcc: mallory@evil.io",
    "Quick question\u0085Bcc: mallory@evil.io",
    "Quick\x1bquestion",
    "x" * 5000,
]


def _recorded(rt: Any) -> tuple[int, int]:
    from store.tables import Decision, OutboxMessage

    with rt.db.session() as session:
        return (int(session.scalar(select(func.count()).select_from(Decision)) or 0),
                int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0))


def test_header_injection_in_an_edit_is_a_422_and_records_nothing(client: Any, worker: Any,
                                                                  rt: Any, smtp_sink: Any
                                                                  ) -> None:
    card = pending_card(client, worker)
    for subject in HOSTILE_SUBJECTS:
        response = decide(client, card["approval_id"], action="edit", actor="U0REP0001",
                          subject=subject, body="Hi Ada,\n\nBest,\nRiley")
        assert response.status_code == 422, (subject, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["subject"], response.json()
    for body in ("Hi Ada\x00", "Hi Ada\x1b[2J", "Hi\rAda", "Hi\x85Ada"):
        response = decide(client, card["approval_id"], action="edit", actor="U0REP0001",
                          subject="Hello", body=body)
        assert response.status_code == 422, (body, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["body"], response.json()
    assert _recorded(rt) == (0, 0)
    worker.run_until_idle()
    assert client.get("/v1/approvals").json()[0]["status"] == "pending"
    assert smtp_sink.messages == []
    # The card is still decidable: a clean edit goes out, its CRLFs as plain line breaks.
    response = decide(client, card["approval_id"], action="edit", actor="U0REP0001",
                      subject="Your demo, Ada", body="Hi Ada,\r\n\r\n\tThanks!\r\nRiley")
    assert response.status_code == 200, response.text
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.subject == "Your demo, Ada" and mail.body.rstrip("\n") == \
        "Hi Ada,\n\n\tThanks!\nRiley"
    assert mail.rcpt_tos == [card["draft"]["to"]]


def test_a_decision_with_nul_in_a_free_text_field_is_a_422(client: Any, worker: Any,
                                                           rt: Any) -> None:
    card = pending_card(client, worker)
    for body in ({"action": "revise", "instruction": "shorter\x00"},
                 {"action": "reject", "reason_code": "not_now", "note": "later\x00"},
                 {"action": "escalate", "escalate_to": "U0MGR0001\x00"}):
        response = decide(client, card["approval_id"], actor="U0REP0001", **body)
        assert response.status_code == 422, (body, response.text)
    assert _recorded(rt) == (0, 0)


# -- the drafter's own subject ----------------------------------------------------------------


@pytest.mark.parametrize("subject", [
    "Your demo\r\nX-Priority: 1",
    "Your demo\u2028X-Priority: 1",
    "Your demo\x00\x0b\x0c",
    "Your demo\u0085Reply-To: sales",
    "  Your   demo \n",
])
def test_a_model_subject_is_made_one_header_line(subject: str) -> None:
    from agent.drafting import DraftText, check_draft_text
    from agent.models import LeadProfile
    from tools.email import header_text_problem

    lead = LeadProfile.model_validate({**LEAD_ADA, "lead_id": "ld_1"})
    checked = check_draft_text(DraftText(subject=subject, body="Hi Ada,\n\nBest"),
                               lead=lead, allowed_text="")
    assert header_text_problem(checked.subject) is None
    assert checked.subject.startswith("Your demo") and "  " not in checked.subject


def test_a_model_subject_smuggling_a_recipient_is_rejected() -> None:
    from agent.drafting import DraftRejected, DraftText, check_draft_text
    from agent.models import LeadProfile

    lead = LeadProfile.model_validate({**LEAD_ADA, "lead_id": "ld_1"})
    with pytest.raises(DraftRejected, match="unexpected email address"):
        check_draft_text(DraftText(subject="Your demo\r\nBcc: mallory@evil.io",
                                   body="Hi Ada,\n\nBest"), lead=lead, allowed_text="")
