"""The two simulated weeks behind `python -m bench.experiment_run`: what leads, reps and
customers do, in time order on the injected clock, through the real service, store, worker and
SMTP sink. Only the people are simulated (seeded), and what they do depends on the true rates
below, so the run shows whether the report finds the variant that is really better.

Leads: a demo request, a card for a rep, the rep's decision (approve as is, edit, or reject with
a reason), the email sent over SMTP, then maybe a reply (an `inbound_reply` naming the sent
Message-ID in In-Reply-To), a meeting, an unsubscribe (some marked as spam: complaints). A reply
or a meeting is a hand-raise, so it brings a follow-up card: reps approve (or edit) the answer to
a reply, and reject the card that follows a booked meeting ("meeting_set").
Support customers: a question the bot answers, then either "that solved it" (bot only) or a
reason to hand over (asked for a person, a double charge, a churn threat) that an agent claims
and resolves; most rate the conversation; a few ask for a callback, which the agent makes.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent.experiments import Experiment, assign
from bench.workload import hand_raise_events, hand_raise_lead
from service import approvals
from service.ingest import ingest_events
from service.schemas import DecisionIn, EventIn

# The truth the report should find, per first email sent: the short email gets well over twice
# the replies (large enough to show in two weeks at the default volume), somewhat more meetings
# per reply, and half the unsubscribes.
TRUE_RATES = {
    "long": {"reply": 0.07, "meeting_if_replied": 0.35, "unsubscribe": 0.03},
    "short": {"reply": 0.17, "meeting_if_replied": 0.45, "unsubscribe": 0.015},
}
COMPLAINT_SHARE = 0.25  # of unsubscribes, "marked as spam"
# What reps do with a first card (the same for both variants: the experiment changes what the
# lead reads, and the report should not see a difference here).
DECISIONS = (("approve", 0.68), ("edit", 0.22), ("reject", 0.10))
REJECT_REASONS = (("not_icp", 0.4), ("not_now", 0.3), ("competitor", 0.2), ("duplicate", 0.1))
# Support: the share handed over, why, and the score customers give (1..5) on each path.
TRANSFER_SHARE = 0.45
TRIGGERS = (("I want to speak with a real person", 0.55),
            ("You charged me twice this month", 0.25),
            ("We're switching to RivalSoft if this is not fixed", 0.20))
SCORES = {"bot_only": (0.03, 0.05, 0.12, 0.35, 0.45),
          "transferred": (0.08, 0.10, 0.17, 0.35, 0.30)}
RATING_SHARE = 0.75
CALLBACK_SHARE = 0.06
QUESTIONS = ("How do I export my data to CSV?", "How do I reset my password?",
             "How do I set up SSO with Okta?", "How do I download my invoices?")
REPLIES = ("Thanks, short and clear. Does Thursday work instead?",
           "Happy to talk. Can you send pricing for 40 seats first?",
           "Interesting, loop in my colleague Dana please.",
           "Tuesday at 10 works for me.")
WORKDAYS = 10  # two weeks of Monday to Friday
DAY_START, DAY_HOURS = 14, 9  # UTC: 8:00-17:00 in Chicago, 9:00-18:00 in New York


def pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


@dataclass(order=True)
class Step:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


@dataclass
class Tally:
    """What the simulated people did (the truth, to read the report against)."""
    leads: int = 0
    cards: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    first_emails: Counter[str] = field(default_factory=Counter)
    words: dict[str, list[int]] = field(default_factory=lambda: {"long": [], "short": []})
    events: Counter[str] = field(default_factory=Counter)
    after_the_end: int = 0
    support: Counter[str] = field(default_factory=Counter)
    not_pending: int = 0


class TwoWeeks:
    def __init__(self, *, rt: Any, worker: Any, staff: Any, customer: Any, sink: Any,
                 clock: Any, experiment: Experiment, seed: int, sasha: dict[str, str]) -> None:
        self.rt, self.worker, self.staff, self.customer = rt, worker, staff, customer
        self.sink, self.clock, self.experiment = sink, clock, experiment
        self.rng = random.Random(seed)
        self.run_tag = f"s{seed}"
        self.sasha = sasha
        self.steps: list[Step] = []
        self.seq = 0
        self.seen_cards: set[str] = set()
        self.lead_email: dict[str, str] = {}  # lead_id -> email
        self.emailed: set[str] = set()
        self.met: set[str] = set()  # emails of leads who booked a meeting
        self.mail_seen = 0
        self.tally = Tally()

    # -- the schedule --------------------------------------------------------------------------

    def at(self, when: datetime, kind: str, **data: Any) -> None:
        self.seq += 1
        heapq.heappush(self.steps, Step(when, self.seq, kind, data))

    def business_time(self, day: int) -> datetime:
        """A moment of working day `day` (0..9: Mon 7 Dec .. Fri 18 Dec)."""
        week, weekday = divmod(day, 5)
        base = self.experiment.starts_at + timedelta(days=7 * week + weekday, hours=DAY_START)
        return base + timedelta(minutes=self.rng.uniform(0, DAY_HOURS * 60))

    def plan(self, leads: int, conversations: int) -> None:
        for i in range(leads):
            self.at(self.business_time(i * WORKDAYS // max(1, leads)), "hand_raise", i=i)
        for c in range(conversations):
            self.at(self.business_time(c * WORKDAYS // max(1, conversations)), "support", c=c)

    def run(self, until: datetime) -> None:
        """Every step before `until` in time order; the worker runs after each, as in
        `hitl serve` (due timers included), and new cards are given to their rep."""
        while self.steps and self.steps[0].at < until:
            step = heapq.heappop(self.steps)
            if step.at > self.clock.now():
                self.clock.set(step.at)
            getattr(self, f"_{step.kind}")(**step.data)
            self.worker.run_until_idle()
            self._new_cards()
        self.tally.after_the_end = sum(1 for s in self.steps if s.kind == "event")
        self.clock.set(until)
        self.worker.run_until_idle()

    # -- leads and reps ------------------------------------------------------------------------

    def _ingest(self, events: list[dict[str, Any]]) -> None:
        ingest_events(self.rt, [EventIn.model_validate(e) for e in events])

    def _hand_raise(self, i: int) -> None:
        self.tally.leads += 1
        self._ingest(hand_raise_events(self.run_tag, "exp", i, now=self.clock.now()))

    def _new_cards(self) -> None:
        for card in approvals.list_approvals(self.rt):
            if card["approval_id"] in self.seen_cards:
                continue
            self.seen_cards.add(card["approval_id"])
            first = card["lead_id"] not in self.emailed
            self.tally.cards["first" if first else "follow_up"] += 1
            minutes = self.rng.uniform(2, 14) if self.rng.random() < 0.85 \
                else self.rng.uniform(20, 120)
            self.at(self.clock.now() + timedelta(minutes=minutes), "decide",
                    approval_id=card["approval_id"], first=first)

    def _decide(self, approval_id: str, first: bool) -> None:
        card = approvals.get_approval(self.rt, approval_id)
        if card["status"] != "pending":  # superseded by a later card of the same lead
            self.tally.not_pending += 1
            return
        met = self.lead_email.get(card["lead_id"]) in self.met
        action = pick(self.rng, DECISIONS) if first else "reject" if met else \
            ("edit" if self.rng.random() < 0.15 else "approve")
        body: dict[str, Any] = {"action": action, "actor": card["assignee"]}
        if action == "edit":
            body["body"] = self._edited(card["draft"]["body"])
        elif action == "reject":
            body["reason_code"] = "meeting_set" if met else pick(self.rng, REJECT_REASONS)
        self.tally.decisions[f"{'first' if first else 'follow_up'}:{action}"] += 1
        approvals.decide(self.rt, approval_id, DecisionIn.model_validate(body))
        self.worker.run_until_idle()  # the send job: a real SMTP conversation with the sink
        self._read_mail()

    def _edited(self, text: str) -> str:
        paragraphs = text.split("\n\n")
        kind = self.rng.randrange(3)
        if kind == 0 and len(paragraphs) > 3:  # cut a middle paragraph
            del paragraphs[self.rng.randrange(1, len(paragraphs) - 2)]
        elif kind == 1:  # a personal line after the greeting
            paragraphs.insert(1, "I saw your team is growing fast, congratulations.")
        else:
            paragraphs.insert(len(paragraphs) - 1, "P.S. Happy to keep it to 20 minutes.")
        return "\n\n".join(paragraphs)

    def _read_mail(self) -> None:
        """The emails the sink received since last time: a lead's first email decides what the
        lead will do, by the true rates of the variant that wrote it."""
        mails = self.sink.messages
        for mail in mails[self.mail_seen:]:
            lead_id = self._lead_of(mail.rcpt_tos[0])
            if lead_id is None or lead_id in self.emailed:
                continue  # a notice to a person, or a follow-up email
            self.emailed.add(lead_id)
            variant = assign(self.experiment, lead_id)
            self.tally.first_emails[variant] += 1
            self.tally.words[variant].append(len(mail.body.split()))
            self._lead_reacts(lead_id, variant, str(mail.message["Message-ID"]))
        self.mail_seen = len(mails)

    def _lead_of(self, email: str) -> str | None:
        if email not in self.lead_email.values():
            from sqlalchemy import select

            from store.tables import Lead

            with self.rt.db.read() as session:
                found = session.scalar(select(Lead.id).where(Lead.email == email))
            if found is None:
                return None
            self.lead_email[found] = email
        return next(k for k, v in self.lead_email.items() if v == email)

    def _lead_reacts(self, lead_id: str, variant: str, message_id: str) -> None:
        rates, rng, now = TRUE_RATES[variant], self.rng, self.clock.now()
        lead = self._lead(lead_id)
        if rng.random() < rates["reply"]:
            replied = now + timedelta(hours=min(rng.expovariate(1 / 16), 96) + 0.5)
            self.at(replied, "event", type="inbound_reply", lead=lead, properties={
                "text": rng.choice(REPLIES), "in_reply_to": message_id,
                "references": message_id})
            if rng.random() < rates["meeting_if_replied"]:
                self.at(replied + timedelta(hours=rng.uniform(4, 72)), "event",
                        type="meeting_booked", lead=lead, properties={"source": "calendar"})
        elif rng.random() < rates["unsubscribe"] / (1 - rates["reply"]):
            spam = rng.random() < COMPLAINT_SHARE
            self.at(now + timedelta(hours=rng.uniform(1, 72)), "event", type="unsubscribe",
                    lead=lead, properties={"reason": "marked as spam" if spam else "link"})

    def _lead(self, lead_id: str) -> dict[str, Any]:
        email = self.lead_email[lead_id]
        i = int(email.split("@")[0].removeprefix("vp"))
        return hand_raise_lead(self.run_tag, "exp", i)

    def _event(self, type: str, lead: dict[str, Any], properties: dict[str, Any]) -> None:
        self.tally.events[type] += 1
        if type == "meeting_booked":
            self.met.add(lead["email"])
        n = sum(self.tally.events.values())
        self._ingest([{"event_id": f"sim-{self.run_tag}-{n}", "type": type,
                       "occurred_at": self.clock.now().isoformat(), "lead": lead,
                       "properties": properties}])

    # -- support customers and the agent -------------------------------------------------------

    def _say(self, conversation: str, text: str, **customer: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text}
        body["customer"] = customer or {"email": f"customer{conversation[5:]}@client.example"}
        answer = self.staff.post(f"/v1/conversations/{conversation}/messages", json=body)
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def _support(self, c: int) -> None:
        conversation = f"conv-{self.run_tag}-{c}"
        first = self._say(conversation, self.rng.choice(QUESTIONS))
        self.tally.support["started"] += 1
        later = self.clock.now() + timedelta(minutes=self.rng.uniform(2, 8))
        if self.rng.random() < CALLBACK_SHARE:
            self.at(later, "support_callback", conversation=conversation)
        if self.rng.random() < TRANSFER_SHARE:
            self.at(later, "support_escalate", conversation=conversation,
                    token=first["conversation_token"])
        else:
            self.at(later, "support_solved", conversation=conversation,
                    token=first["conversation_token"])

    def _support_solved(self, conversation: str, token: str) -> None:
        if self._say(conversation, "Thanks, that solved it!")["status"] == "resolved":
            self.tally.support["resolved_by_bot"] += 1
            self._maybe_rate(conversation, token, "bot_only")

    def _support_escalate(self, conversation: str, token: str) -> None:
        moved = self._say(conversation, pick(self.rng, TRIGGERS))
        if not moved.get("handoff_id"):
            self.tally.support["not_handed_over"] += 1
            return
        self.tally.support["transferred"] += 1
        claim = self.clock.now() + timedelta(minutes=self.rng.uniform(3, 25))
        self.at(claim, "support_agent", handoff=moved["handoff_id"], step="claim",
                conversation=conversation, token=token)

    def _support_agent(self, handoff: str, step: str, conversation: str, token: str) -> None:
        done = self.staff.post(f"/v1/handoffs/{handoff}/{step}", headers=self.sasha)
        done.raise_for_status()
        if step == "claim":
            self.at(self.clock.now() + timedelta(minutes=self.rng.uniform(10, 60)),
                    "support_agent", handoff=handoff, step="resolve",
                    conversation=conversation, token=token)
        else:
            self.tally.support["resolved_by_agent"] += 1
            self._maybe_rate(conversation, token, "transferred")

    def _maybe_rate(self, conversation: str, token: str, path: str) -> None:
        if self.rng.random() < RATING_SHARE:
            score = self.rng.choices(range(1, 6), SCORES[path])[0]
            self.at(self.clock.now() + timedelta(minutes=self.rng.uniform(1, 30)),
                    "support_rate", conversation=conversation, token=token, score=score)

    def _support_rate(self, conversation: str, token: str, score: int) -> None:
        rated = self.customer.post(f"/v1/conversations/{conversation}/rating",
                                   json={"score": score, "token": token})
        self.tally.support[f"rated:{rated.status_code}"] += 1

    def _support_callback(self, conversation: str) -> None:
        self._say(conversation, "Could you call me tomorrow morning instead?")
        self.tally.support["callback_asked"] += 1
        for callback in self.staff.get("/v1/callbacks", params={"status": "open"}).json():
            if callback["conversation_id"] == conversation and self.rng.random() < 0.8:
                due = datetime.fromisoformat(callback["due_at"])
                self.at(due + timedelta(minutes=self.rng.uniform(0, 20)), "callback_done",
                        callback_id=callback["callback_id"])

    def _callback_done(self, callback_id: str) -> None:
        done = self.staff.post(f"/v1/callbacks/{callback_id}/done", headers=self.sasha)
        self.tally.support[f"callback_done:{done.status_code}"] += 1
