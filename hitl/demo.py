"""`hitl demo`: the offline walkthrough. Real SMTP (a local sink), SQLite, embedded Chroma,
the offline drafter; a scripted rep approves one draft, edits one, rejects one, and asks for a
revision of a German lead's German draft, then approves it (hitl/demo_revise.py)."""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from config.settings import DEFAULTS_DIR

DEMO_LEADS = DEFAULTS_DIR / "demo_leads.jsonl"
CONTENT = DEFAULTS_DIR / "content"


def demo_events(now: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The sample leads' events with times relative to `now`, and each email's scripted plan."""
    events: list[dict[str, Any]] = []
    plans: dict[str, str] = {}
    for i, line in enumerate(DEMO_LEADS.read_text().splitlines()):
        if not line.strip():
            continue
        sample = json.loads(line)
        plans[sample["lead"]["email"]] = sample["plan"]
        for j, event in enumerate(sample["events"]):
            events.append({
                "event_id": f"demo-{i:02d}-{j:02d}", "type": event["type"],
                "occurred_at": (now - timedelta(minutes=event["ago_minutes"])).isoformat(),
                "lead": sample["lead"], "properties": event.get("properties", {}),
            })
    return events, plans


def run_demo(workdir: Path | None = None, clock: Any | None = None, sink: Any | None = None
             ) -> int:
    """Run the walkthrough; `clock` (config.clock) fixes "now" and `sink` is a running SmtpSink
    to deliver to (tests); by default the system time and a sink of its own."""
    from config.settings import load_settings
    from hitl.demo_revise import mail_subject, revise_then_approve, show_revised_mail
    from hitl.wiring import build_runtime
    from service import approvals, leads
    from service.ingest import ingest_events
    from service.schemas import DecisionIn, EventIn
    from service.worker import Worker
    from tools.crm.writer import RecordingCrmWriter
    from tools.smtp_sink import SmtpSink

    # Wide enough for the tables when piped (CI logs), a terminal's own width otherwise.
    console = Console(width=None if Console().is_terminal else 132)
    started = time.monotonic()
    failures: list[str] = []
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hitl-demo-")))
        workdir.mkdir(parents=True, exist_ok=True)
        if sink is None:
            sink = stack.enter_context(SmtpSink())
        settings = load_settings(
            database_url=f"sqlite:///{workdir / 'hitl.db'}", chroma_path=workdir / "chroma",
            chroma_url=None, smtp_url=sink.url, openai_api_key=None, openai_base_url=None,
            embeddings="local", slack_bot_token=None, slack_signing_secret=None,
            slack_app_token=None, api_token=None,
        )
        console.rule("[bold]HITL handoff demo[/] (offline: SQLite, embedded Chroma, "
                     "offline drafter, local SMTP sink)")
        # The CRM write-back, recorded offline: what HubSpot would receive (README, "CRM
        # write-back and backfill").
        crm = RecordingCrmWriter(name="hubspot")
        rt = build_runtime(settings, crm_override=[crm],
                           **({"clock": clock} if clock is not None else {}))
        stack.callback(rt.close)
        rt.db.upgrade()
        library = rt.content_library
        if library is not None:
            indexed = library.index_folder(CONTENT)
            console.print(f"Content library: {indexed} assets indexed in embedded Chroma")
        worker = Worker(rt)
        stack.callback(worker.stop)

        raw, plans = demo_events(rt.clock.now())
        result = ingest_events(rt, [EventIn.model_validate(e) for e in raw])
        console.print(f"1. Signals arrive: {result.accepted} events accepted for "
                      f"{len(result.leads)} leads")
        replay = ingest_events(rt, [EventIn.model_validate(e) for e in raw[:5]])
        console.print(f"   The CRM retries 5 deliveries: {replay.duplicates} duplicates, "
                      f"{replay.accepted} accepted (nothing changes)")
        worker.run_until_idle()

        table = Table(title="2. Qualified, banded and routed by policy "
                            f"{rt.policy.version}")
        for column in ("lead", "company", "band", "score", "route", "owner", "stage",
                       "SLA due"):
            table.add_column(column)
        lead_ids = {ref["email"]: ref["lead_id"] for ref in result.leads}
        for email, lead_id in lead_ids.items():
            lead = leads.get_lead(rt, lead_id)
            dq = ", ".join(d["code"] for d in lead["disqualifiers"])
            table.add_row(email, lead["company"] or "", lead["band"] + (f" ({dq})" if dq else ""),
                          f"{lead['score']:.0f}", lead["route"], lead["owner"] or "-",
                          lead["stage"],
                          f"{lead['sla_due_at']:%a %H:%M} UTC" if lead["sla_due_at"] else "-")
        console.print(table)

        pending = approvals.list_approvals(rt, status="pending")
        console.print(f"3. The graph paused at the approval node for {len(pending)} leads. "
                      f"Emails sent so far: {len(sink.messages)}")
        if sink.messages:
            failures.append("an email went out before any approval")
        by_email = {a["draft"]["to"]: a for a in pending}
        shown = ["ada.park@acme.io", "ben.ortiz@northwind-logistics.com"]
        shown += [e for e, p in plans.items() if p.startswith("revise:")]
        for email in shown:
            card = by_email.get(email)
            if card is None:
                failures.append(f"no approval card for {email}")
                continue
            ctx = card["context"]
            signals = "\n".join(f"  • {s['detail']}  [{s['event_id']}]"
                                for s in ctx["top_signals"])
            risks = "\n".join(f"  ⚠ {r['detail']}" for r in ctx["risks"]) or "  none"
            asset = ctx["recommended_action"].get("asset")
            lead = leads.get_lead(rt, card["lead_id"])
            console.print(Panel(
                f"[bold]Qualified:[/] {lead['title']} · band {lead['band']} · score "
                f"{lead['score']:.0f} · route {lead['route']}\n"
                f"[bold]Why now:[/] {ctx['why_now']}\n[bold]Top signals:[/]\n{signals}\n"
                f"[bold]Risks:[/]\n{risks}\n[bold]Next step:[/] "
                f"{ctx['recommended_action']['next_step']}"
                + (f"\n[bold]Asset:[/] {asset['title']} ({asset['path']})" if asset else "")
                + f"\n\n[bold]Draft[/] ({card['draft']['note'] or card['draft']['source']})\n"
                f"Subject: {card['draft']['subject']}\n\n{card['draft']['body']}",
                title=f"Approval card → {card['assignee']} · SLA {card['sla_due_at']:%H:%M} UTC",
            ))

        console.print("4. The rep decides:")
        revised: dict[str, Any] | None = None
        for email, plan in plans.items():
            card = by_email.get(email)
            if plan in ("none", "pending"):
                continue
            if card is None:
                failures.append(f"expected an approval for {email} ({plan})")
                continue
            action, _, reason = plan.partition(":")
            if action == "revise":
                revised = revise_then_approve(rt, worker, console, card, reason, failures)
                continue
            decision: dict[str, Any] = {"action": action, "actor": card["assignee"]}
            if action == "edit":
                decision.update(
                    subject=f"{card['draft']['subject']} (pricing for 40 seats)",
                    body=card["draft"]["body"].replace(
                        "\n\n", "\n\nHappy to walk through pricing for 40 seats and how teams "
                        "moved over from RivalSoft.\n\n", 1))
            if action == "reject":
                decision["reason_code"] = reason
            approvals.decide(rt, card["approval_id"], DecisionIn.model_validate(decision))
            console.print(f"   {action:8} {email}" + (f" (reason: {reason})" if reason else ""))
        worker.run_until_idle()

        sent = sink.messages
        mail = Table(title=f"5. Delivered over SMTP to the local sink ({sink.url})")
        for column in ("to", "subject", "Message-ID", "List-Unsubscribe"):
            mail.add_column(column)
        for message in sent:
            mail.add_row(", ".join(message.rcpt_tos), mail_subject(message),
                         str(message.message["Message-ID"]),
                         str(message.message["List-Unsubscribe"]))
        console.print(mail)
        expected = {e for e, p in plans.items()
                    if p in ("approve", "edit") or p.startswith("revise:")}
        got = {r for m in sent for r in m.rcpt_tos}
        if got != expected or len(sent) != len(expected):
            failures.append(f"expected exactly one email each to {sorted(expected)}, "
                            f"got {[m.rcpt_tos for m in sent]}")

        if revised is not None:
            show_revised_mail(console, sink, revised, failures)
        _print_crm_writes(console, crm, failures)

        for email, plan in plans.items():
            if plan.startswith("reject"):
                lead = leads.get_lead(rt, lead_ids[email])
                console.print(
                    f"6. Recycled: {email} → stage {lead['stage']}, nurture track "
                    f"{lead['nurture_track']}, suppressed until "
                    f"{lead['suppressed_until']:%Y-%m-%d} ({lead['suppression_reason']})")
                if lead["stage"] != "recycled" or lead["suppressed_until"] is None:
                    failures.append(f"{email} was not recycled")
        waiting = approvals.list_approvals(rt, status="pending")
        console.print(f"7. Still waiting for a human: {len(waiting)} approval(s): "
                      + ", ".join(a["draft"]["to"] for a in waiting))

    elapsed = time.monotonic() - started
    if failures:
        for failure in failures:
            console.print(f"[red]✗ {failure}[/]")
        console.print(f"[red]demo failed[/] in {elapsed:.1f}s")
        return 1
    console.print(f"[green]✓ demo finished in {elapsed:.1f}s[/]: nothing left before approval; "
                  "exactly the approved texts went out, once each.")
    return 0


def _print_crm_writes(console: Console, crm: Any, failures: list[str]) -> None:
    """What the CRM would have received, one row per idempotency key."""
    from rich.markup import escape  # lead and draft text is not markup

    table = Table(title="CRM write-back (recorded offline; HubSpot fields from HITL_CRM_FILE)")
    for column in ("write", "contact", "what", "idempotency key"):
        table.add_column(column)
    for call in crm.calls:
        if call["kind"] == "task":
            task = call["task"]
            row = (task.contact_email, f"task for {task.owner_email}, due "
                   f"{task.due_at:%a %H:%M} UTC")
        elif call["kind"] == "email":
            row = (call["email"].contact_email, f"email logged: {call['email'].subject}")
        else:
            row = (call["contact_email"], ", ".join(f"{k}={v}" for k, v in call["fields"].items()))
        table.add_row(call["kind"], *(escape(cell) for cell in row), call["idempotency_key"])
    console.print(table)
    kinds = {call["kind"] for call in crm.calls}
    if kinds != {"task", "lead_status", "email"}:
        failures.append(f"CRM write-back incomplete: {sorted(kinds)}")
