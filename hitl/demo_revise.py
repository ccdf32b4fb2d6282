"""`hitl demo`, the revise step: the rep asks for another draft in the card's words ("bitte duzen,
und erwähne das Webinar"), through the door a Slack thread reply uses (service.approvals.decide
with action revise); the demo shows the draft before and after and the drafter's note, then
approves the new version. The one email it sends is checked and shown after delivery."""

from __future__ import annotations

from email.header import decode_header, make_header
from typing import Any

from rich.console import Console
from rich.markup import escape  # lead and draft text is not markup
from rich.table import Table

FIRST_LINES = 4


def mail_subject(message: Any) -> str:
    """The subject as a person reads it (RFC 2047 words decoded: "Ihre Demo-Anfrage")."""
    return str(make_header(decode_header(message.subject)))


def first_lines(body: str, count: int = FIRST_LINES) -> str:
    lines = [line for line in body.splitlines() if line.strip()]
    return "\n".join(lines[:count]) + ("\n…" if len(lines) > count else "")


def revise_then_approve(rt: Any, worker: Any, console: Console, card: dict[str, Any],
                        instruction: str, failures: list[str]) -> dict[str, Any] | None:
    """Revise `card` with `instruction`, print before/after and the note, approve the new
    version. Returns the approved version's card (None when the revise did not produce one)."""
    from service import approvals
    from service.schemas import DecisionIn

    email = card["draft"]["to"]
    console.print(f"   revise   {email} (the rep replies in the card's thread: "
                  f"{escape(repr(instruction))})")
    old = approvals.decide(rt, card["approval_id"], DecisionIn.model_validate(
        {"action": "revise", "actor": card["assignee"], "instruction": instruction}))
    if old["status"] != "revised":
        failures.append(f"the revise of {email} left the card {old['status']}")
    worker.run_until_idle()
    new = next((a for a in approvals.list_approvals(rt, status="pending")
                if a["handoff_id"] == card["handoff_id"]), None)
    if new is None:
        failures.append(f"no new draft for {email} after the revise")
        return None
    before, after = card["draft"], new["draft"]
    table = Table(title=f"   The draft for {email}, version {card['version']} → "
                        f"{new['version']}", show_lines=True)
    for column in ("", f"before (v{card['version']})", f"after (v{new['version']})"):
        table.add_column(column)
    table.add_row("subject", escape(before["subject"]), escape(after["subject"]))
    table.add_row("first lines", escape(first_lines(before["body"])),
                  escape(first_lines(after["body"])))
    table.add_row("length", f"{len(before['body'])} characters",
                  f"{len(after['body'])} characters")
    console.print(table)
    console.print(f"   Drafter's note: {escape(after['note'] or '(none)')}")
    if (after["subject"], after["body"]) == (before["subject"], before["body"]):
        failures.append(f"the revise returned the same draft for {email}")
    if not after["note"] or "followed" not in after["note"]:
        failures.append(f"the revised draft for {email} has no note on the instruction")
    approvals.decide(rt, new["approval_id"], DecisionIn.model_validate(
        {"action": "approve", "actor": new["assignee"]}))
    console.print(f"   approve  {email} (version {new['version']})")
    return new


def show_revised_mail(console: Console, sink: Any, approved: dict[str, Any],
                      failures: list[str]) -> None:
    """The revised draft as the SMTP sink received it: exactly one email, the approved text."""
    email = approved["draft"]["to"]
    mails = [m for m in sink.messages if email in m.rcpt_tos]
    if len(mails) != 1:
        failures.append(f"expected one email to {email} after the revise, got {len(mails)}")
        return
    mail = mails[0]
    subject = mail_subject(mail)
    console.print(f"   The sink received 1 email to {email}:\n"
                  f"   Subject: {escape(subject)}\n"
                  + "\n".join(f"   │ {escape(line)}" for line in
                              first_lines(mail.body, 12).splitlines()))
    if subject != approved["draft"]["subject"] or \
            mail.body.strip() != approved["draft"]["body"].strip():
        failures.append(f"the email to {email} is not the approved revised text")
