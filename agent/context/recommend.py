"""The recommended action: the next step for the rep, the message angle, and one asset."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent.models import Asset, Qualification, Signal

if TYPE_CHECKING:
    from tools.content_library import ContentLibrary

log = logging.getLogger(__name__)

# Risks that forbid emailing the lead at all.
NO_CONTACT = ("unsubscribed", "no_consent", "suppressed")

ANGLES = {
    "pricing page": "Pricing interest: offer a short walkthrough of the plan that fits their team",
    "pricing form": "Pricing request: give a clear starting point and offer a walkthrough",
    "demo form": "Demo request: confirm what they want to see and propose two times",
    "demo page": "Demo interest: offer a short demo tailored to their use case",
    "contact form": "Asked to be contacted: answer promptly and ask what prompted it",
    "trial form": "Trial started: help them reach first value quickly",
    "comparison page": "Evaluating options: ask what they are comparing and focus on what matters",
    "integration page": "Integrations: confirm their stack and show the relevant integration",
    "case study": "Proof: share results from a similar company in their industry",
    "inbound reply": "They replied: answer their message directly before anything else",
    "meeting booked": "Meeting booked: confirm it and send a short agenda",
    "event attended": "Event follow-up: build on the session they attended",
    "email click": "Content follow-up: build on what they read",
    "email open": "Light touch: offer one useful resource",
    "product usage up": "Usage is growing: offer help scaling the rollout",
    "content form": "Content download: offer a related resource and a short conversation",
    "newsletter form": "Newsletter sign-up: keep it light and offer one relevant resource",
    "page view": "Website visits: ask what they are working on",
}
DEFAULT_ANGLE = "Check in with a note tied to their industry and role"
_TALK_TRACK_LABELS = ("pricing", "demo", "comparison", "integration", "contact")


def next_step(
    qualification: Qualification, hand_raise: Signal | None, hand_raise_label: str,
    risk_codes: set[str],
) -> str:
    """What the rep should do next, from the route, the hand-raise and the risks."""
    blocked = [code for code in NO_CONTACT if code in risk_codes]
    if blocked:
        reasons = ", ".join(code.replace("_", " ") for code in blocked)
        return (f"Do not email ({reasons}); note the signal for the owner and wait for the "
                "lead to reach out")
    route = qualification.route
    if route == "disqualified":
        codes = ", ".join(d.code.replace("_", " ") for d in qualification.disqualifiers)
        return "Do not contact; close as disqualified" + (f" ({codes})" if codes else "")
    if route == "hand_raise":
        if hand_raise is not None and hand_raise.type == "meeting_booked":
            step = "Confirm the booked meeting within the SLA and send a short agenda"
        elif hand_raise is not None and hand_raise.type == "inbound_reply":
            step = "Answer their reply within the SLA and offer two meeting times"
        elif hand_raise_label == "demo form":
            step = "Reply within the SLA, confirm the demo and offer two meeting times"
        elif hand_raise_label == "pricing form":
            step = "Reply within the SLA with pricing context and offer two meeting times"
        else:
            step = "Reply within the SLA and offer two meeting times"
    elif route == "strategic":
        step = ("Account owner: send a personal note today that ties the signal to the "
                "account plan")
    elif route == "band_a":
        step = "Send a tailored follow-up within one business day and propose a discovery call"
    else:
        step = "No rep outreach: keep in nurture and watch for a hand-raise"
    if {"negative_ticket", "open_ticket"} & risk_codes:
        step = "Check the open support issue with the support owner first, then " + (
            step[0].lower() + step[1:]
        )
    return step


def asset_query(
    qualification: Qualification, labels: list[str], industry: str, risk_codes: set[str]
) -> tuple[str, str] | None:
    """(query, kind) for the library, from our own labels, the industry and the risks."""
    if qualification.route == "disqualified":
        return None
    words = list(labels)
    if "competitor" in risk_codes or "comparison page" in labels:
        kind = "talk_track"
        words += ["competitor", "switching", "alternative", "comparison"]
    elif {"negative_ticket", "open_ticket"} & risk_codes:
        kind = "playbook"
        words += ["support ticket", "open issue", "negative sentiment"]
    elif qualification.route == "strategic":
        kind = "playbook"
        words += ["strategic account", "named account"]
    elif qualification.route == "nurture":
        kind = "playbook"
        words += ["re-engagement", "nurture"]
    elif any(word in label for label in labels for word in _TALK_TRACK_LABELS):
        kind = "talk_track"
    else:
        kind = "case_study"
        words += ["case study"]
    if industry:
        words.append(industry)
    query = " ".join(dict.fromkeys(w for w in words if w))
    return (query, kind) if query else None


def recommend(library: ContentLibrary | None, query: tuple[str, str] | None) -> Asset | None:
    """One asset from the library for `query`, or None (also when the lookup fails)."""
    if library is None or query is None:
        return None
    try:
        found = library.recommend(query[0], kind=query[1], k=1)
    except Exception:  # a missing asset must never stop a handoff
        log.warning("content library lookup failed; continuing without an asset", exc_info=True)
        return None
    return found[0] if found else None

