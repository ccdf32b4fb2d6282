"""CRM write-back through the whole product, with the recording double in the CRM's place: a
task for the owner when the card opens, the status after each decision, the sent email logged;
one write per idempotency key, whatever runs twice; nothing at all while no CRM is configured."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from service import crm_writeback
from store.tables import AuditEntry, Job
from tests.flow import decide, pending_card
from tools.crm.writer import RecordingCrmWriter


@pytest.fixture
def crm(rt: Any) -> RecordingCrmWriter:
    double = RecordingCrmWriter()
    rt.crm_override = [double]
    return double


def test_card_decision_and_send_reach_the_crm_once_each(client, worker, rt, crm,
                                                         smtp_sink) -> None:
    card = pending_card(client, worker)
    handoff, version = card["handoff_id"], card["version"]
    assert {c["idempotency_key"] for c in crm.calls} == {
        f"crm:recording:task:{handoff}:v{version}",
        f"crm:recording:status:{handoff}:v{version}:handoff_started"}
    task = next(c for c in crm.calls if c["kind"] == "task")
    assert task["task"].contact_email == "ada@acme.io"
    assert task["task"].owner_email == "riley@example.com"
    assert task["task"].due_at is not None
    assert task["task"].due_at.isoformat() == card["sla_due_at"].replace("Z", "+00:00")
    assert card["context"]["why_now"] in task["task"].body
    started = next(c for c in crm.calls if c["kind"] == "lead_status")
    assert started["fields"] == {"hubspot_lifecyclestage": "salesqualifiedlead",
                                 "hubspot_lead_status": "OPEN",
                                 "salesforce_status": "Open - Not Contacted"}

    assert decide(client, card["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 200
    worker.run_until_idle()
    assert {c["idempotency_key"] for c in crm.calls[2:]} == {
        f"crm:recording:status:{handoff}:v{version}:approve",
        f"crm:recording:email:{handoff}:v{version}"}
    approved = next(c for c in crm.calls[2:] if c["kind"] == "lead_status")
    assert approved["fields"]["hubspot_lead_status"] == "ATTEMPTED_TO_CONTACT"
    logged = next(c for c in crm.calls if c["kind"] == "email")["email"]
    assert logged.contact_email == "ada@acme.io" and logged.subject == card["draft"]["subject"]
    assert len(smtp_sink.messages) == 1

    # The same decision again is refused, and writes nothing more.
    assert decide(client, card["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 409
    worker.run_until_idle()
    assert len(crm.received) == len(crm.calls) == 4


def test_a_write_job_run_twice_calls_the_crm_once(client, worker, rt, crm) -> None:
    """A crash after the CRM took the write (or a person's retry) runs the job again: the
    ledger in the audit log answers, the CRM is not called."""
    card = pending_card(client, worker)
    decide(client, card["approval_id"], action="reject", actor="U0REP0001",
           reason_code="not_now")
    worker.run_until_idle()
    key = f"crm:recording:status:{card['handoff_id']}:v{card['version']}:not_now"
    assert crm.received.count(key) == 1
    payload = {"crm": "recording", "key": key,
               "handoff_id": card["handoff_id"], "version": card["version"],
               "lead_id": card["lead_id"], "outcome": "not_now",
               "approval_id": card["approval_id"]}
    crm_writeback.CRM_JOB_HANDLERS["crm_lead_status"](rt, payload)
    crm_writeback.CRM_JOB_HANDLERS["crm_lead_status"](rt, payload)
    assert crm.received.count(key) == 1
    # The reject wrote the disposition's status (not_now), not the bare decision's (none).
    assert crm.calls[-1]["fields"]["hubspot_lead_status"] == "BAD_TIMING"
    with rt.db.read() as s:
        ledger = s.scalars(select(AuditEntry).where(AuditEntry.action == "crm_write")).all()
    assert {e.detail["write"] for e in ledger} == {"task", "status"}
    assert all(e.detail["crm"] == "recording" for e in ledger)


def test_a_revised_draft_for_the_same_owner_makes_no_second_task(client, worker, rt,
                                                                crm) -> None:
    card = pending_card(client, worker)
    decide(client, card["approval_id"], action="revise", actor="U0REP0001",
           instruction="shorter please")
    worker.run_until_idle()
    assert [c["kind"] for c in crm.calls].count("task") == 1


def test_an_escalation_gives_the_new_holder_a_task(client, worker, rt, crm) -> None:
    card = pending_card(client, worker)
    decide(client, card["approval_id"], action="escalate", actor="U0REP0001",
           escalate_to="U0REP0002")
    worker.run_until_idle()
    tasks = [c for c in crm.calls if c["kind"] == "task"]
    assert [t["task"].owner_email for t in tasks] == ["riley@example.com", "sam@example.com"]
    assert tasks[1]["idempotency_key"].endswith(":v2")


def test_no_crm_configured_queues_nothing(client, worker, rt) -> None:
    assert rt.crm_writers == []
    card = pending_card(client, worker)
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    with rt.db.read() as s:
        kinds = set(s.scalars(select(Job.kind)))
    assert not any(k.startswith("crm_") for k in kinds)
