"""The offline intent parser: the rep's asks, understood without a model.

Only the rep's own message is parsed; nothing read from a lead ever reaches this module, so a
lead's text cannot become an instruction. Names are matched fuzzily (rapidfuzz) against the leads
the rep may see and nothing else: a lead outside that list is simply "not found". An ambiguous
name yields a question listing the candidates, and the next message can answer it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from rapidfuzz import fuzz, utils

from agent.assistant.state import LeadRef, MemberRef, ToolCall

MATCH_MIN = 80  # a name scoring below this is no match
TIE_MARGIN = 6  # candidates this close to the best are all plausible: ask which one
MAX_CANDIDATES = 5
CONTAINED = 90  # the score of a name all of whose words the rep used

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DISPOSITIONS: tuple[tuple[str, str], ...] = (
    (r"not\s+now|bad\s+timing|later|next\s+quarter", "not_now"),
    (r"no\s+(?:response|reply|answer)|unresponsive|ghost(?:ed|ing)", "no_response"),
    (r"not\s+(?:an?\s+)?(?:icp|fit|our\s+icp)|bad\s+fit|not_icp", "not_icp"),
    (r"competitor|went\s+with\s+\w+", "competitor"),
    (r"dup(?:e|licate)", "duplicate"),
    (r"meeting(?:\s+(?:set|booked))?|booked|meeting_set", "meeting_set"),
    (r"connected|spoke|talked", "connected"),
)

_NAME = r"(?P<name>.+?)"
_RULES: tuple[tuple[str, str], ...] = (
    ("reassign", rf"^(?:please\s+)?(?:hand|give|reassign|transfer|move|pass)\s+(?:over\s+)?{_NAME}"
                 r"\s+(?:over\s+)?to\s+(?P<target>[\w .@'-]+?)\s*[.!?]*$"),
    ("snooze", rf"^(?:please\s+)?(?:snooze|pause|park)\s+{_NAME}\s+(?:until|till|til|to|for|"
               r"through)\s+(?P<when>.+?)\s*[.!?]*$"),
    ("disposition", rf"^(?:please\s+)?(?:mark|set|close|disposition|flag)\s+{_NAME}\s+(?:as|to)"
                    r"\s+(?P<what>.+?)\s*[.!?]*$"),
    ("disposition", rf"^{_NAME}\s+(?:is|was)\s+(?:an?\s+)?(?P<what>duplicate|dupe|competitor|"
                    r"not\s+now|bad\s+timing|no\s+response|not\s+(?:an?\s+)?(?:icp|fit))\s*[.!?]*$"),
    ("follow_up", r"^(?:please\s+|can\s+you\s+|could\s+you\s+)?(?:draft|write|send|prepare|"
                  r"compose)\s+(?:me\s+)?(?:an?\s+)?(?:quick\s+)?(?:follow[- ]?up|email|note|"
                  rf"reply)(?:\s+email)?\s+(?:to|for)\s+{_NAME}"
                  r"(?:\s*,?\s+(?:mentioning|about|re|regarding|saying|that|and\s+mention|"
                  r"to\s+mention|on|with)\s+(?P<about>.+?))?\s*[.!?]*$"),
    ("follow_up", rf"^(?:please\s+)?follow\s+up\s+(?:with|on)\s+{_NAME}"
                  r"(?:\s*,?\s+(?:mentioning|about|re|regarding|on)\s+(?P<about>.+?))?\s*[.!?]*$"),
    ("search_content", r"(?:find|search|look\s+for|any|got\s+an?y?|do\s+we\s+have|is\s+there)"
                       r"\s+(?:me\s+)?(?:an?\s+|some\s+)?(?:case\s+stud(?:y|ies)|content|assets?|"
                       r"talk\s+tracks?|decks?|playbooks?|collateral|material)\s*(?:about|on|for|"
                       r"re|regarding|that\s+covers?)?\s*(?P<query>.*?)\s*[.!?]*$"),
    ("kpis", r"how\s+am\s+i\s+doing|how'?s\s+my\s+(?:sla|week|month|numbers)|my\s+(?:kpis?|"
             r"stats|numbers|slas?|metrics|performance)|\bsla\b|\bkpis?\b|scorecard"),
    ("queue", r"on\s+my\s+plate|my\s+queue|what'?s\s+(?:pending|waiting|open|next|due)|"
              r"\b(?:to-?do|todo)\b|open\s+approvals|what\s+do\s+i\s+(?:have|need\s+to\s+do)|"
              r"anything\s+(?:pending|waiting|for\s+me|overdue)|overdue|my\s+(?:leads|cards|day)"),
    ("why_now", rf"^(?:so\s+)?why\s+(?:is|are|was)\s+{_NAME}\s+(?:hot|warm|a\s+priority|"
                r"(?:on\s+my|in\s+my)\s+\w+|here|flagged|urgent|important)\s*[.!?]*$"),
    ("why_now", rf"^(?:tell\s+me\s+(?:more\s+)?about|what'?s\s+(?:up|new|going\s+on)\s+with|"
                r"what\s+do\s+we\s+know\s+about|(?:show\s+me\s+)?(?:the\s+)?(?:history|context|"
                rf"why[- ]now)\s+(?:of|for|on)|why\s+now\s+for|who\s+is|brief\s+me\s+on)\s+{_NAME}"
                r"\s*[.!?]*$"),
    ("why_now", rf"^why\s+{_NAME}\s*[.!?]*$"),
)
_PATTERNS = tuple((intent, re.compile(rx, re.I)) for intent, rx in _RULES)


@dataclass(frozen=True)
class Resolution:
    """A name looked up among the visible leads: one lead, several, or none."""

    lead: LeadRef | None = None
    candidates: tuple[LeadRef, ...] = ()
    name: str = ""


@dataclass
class Parsed:
    """What the message asks for: tool calls, or a question back to the rep, or nothing known."""

    calls: list[ToolCall] = field(default_factory=list)
    question: str | None = None
    pending: dict[str, Any] | None = None  # the ask waiting for the rep's choice
    not_found: str | None = None  # a name no visible lead answers to
    unknown: bool = False


def _strip(name: str) -> str:
    name = re.sub(r"^(?:the\s+)?(?:lead\s+|account\s+|contact\s+)?", "", name.strip(), flags=re.I)
    name = re.sub(r"(?:'s|’s)$", "", name)
    return re.sub(r"\s+(?:lead|account|deal)$", "", name, flags=re.I).strip(" \"'“”")


def _names(lead: LeadRef) -> list[str]:
    parts = [lead.name, *lead.name.split()]
    if lead.company:
        parts += [lead.company, lead.label, f"{lead.name} at {lead.company}"]
    return [p for p in parts if p]


def resolve_lead(name: str, leads: list[LeadRef]) -> Resolution:
    """The visible lead `name` means. Scores each lead by its best-matching name part."""
    needle = utils.default_process(_strip(name))
    if not needle:
        return Resolution(name=name)
    scored = []
    for lead in leads:
        best = max(fuzz.ratio(needle, utils.default_process(part)) for part in _names(lead))
        # "Acme Corp" is Acme: every word of the name or company is among the rep's words.
        words = set(needle.split())
        whole = max((CONTAINED for part in (lead.name, lead.company or "") if part
                     and set(utils.default_process(part).split()) <= words), default=0)
        scored.append((max(best, whole), lead))
    scored.sort(key=lambda pair: -pair[0])
    plausible = [lead for score, lead in scored if score >= MATCH_MIN]
    if not plausible:
        return Resolution(name=_strip(name))
    top = scored[0][0]
    close = [lead for score, lead in scored if score >= max(MATCH_MIN, top - TIE_MARGIN)]
    if len(close) == 1:
        return Resolution(lead=close[0], name=_strip(name))
    return Resolution(candidates=tuple(close[:MAX_CANDIDATES]), name=_strip(name))


def resolve_member(name: str, team: list[MemberRef]) -> MemberRef | None:
    needle = utils.default_process(_strip(name))
    best: tuple[float, MemberRef | None] = (0.0, None)
    for member in team:
        parts = [member.name, *member.name.split(), member.key]
        score = max(fuzz.ratio(needle, utils.default_process(p)) for p in parts)
        if score > best[0]:
            best = (score, member)
    return best[1] if best[0] >= MATCH_MIN else None


def parse_when(text: str, today: date) -> date | None:
    """'Monday' (the next one, never today), 'tomorrow', 'next week', '3 days', '2026-12-07'."""
    when = text.strip().lower().rstrip(".!?")
    when = re.sub(r"^(?:next|this|on)\s+(?=\w+day\b)", "", when)
    if when in WEEKDAYS:
        ahead = (WEEKDAYS.index(when) - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    if when == "tomorrow":
        return today + timedelta(days=1)
    if when in ("next week", "a week", "one week", "1 week"):
        return today + timedelta(days=7 - today.weekday()) if when == "next week" \
            else today + timedelta(days=7)
    if m := re.fullmatch(r"(\d{1,3})\s+(day|week)s?", when):
        return today + timedelta(days=int(m[1]) * (7 if m[2] == "week" else 1))
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", when):
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    return None


def parse_disposition(text: str) -> str | None:
    for pattern, code in DISPOSITIONS:
        if re.search(pattern, text, re.I):
            return code
    return None


def _kpi_days(text: str) -> int:
    lowered = text.lower()
    if "today" in lowered:
        return 1
    if "month" in lowered or "30 days" in lowered:
        return 30
    return 7


def _choice(text: str, pending: dict[str, Any], leads: list[LeadRef]) -> LeadRef | None:
    """The rep's answer to "which one?": a number, or a name among the candidates."""
    candidates = [lead for lead in leads if lead.lead_id in pending["candidates"]]
    candidates.sort(key=lambda lead: pending["candidates"].index(lead.lead_id))
    if m := re.fullmatch(r"\s*(?:the\s+)?(?:#|number\s+)?(\d|first|second|third|fourth|fifth)"
                         r"(?:\s+one)?\s*[.!]?\s*", text, re.I):
        words = ("first", "second", "third", "fourth", "fifth")
        index = int(m[1]) - 1 if m[1].isdigit() else words.index(m[1].lower())
        return candidates[index] if 0 <= index < len(candidates) else None
    found = resolve_lead(text, candidates)
    return found.lead


def _call(intent: str, lead: LeadRef, groups: dict[str, str], team: list[MemberRef],
          today: date) -> ToolCall | str:
    """The tool call for an intent on a resolved lead, or a sentence saying what is missing."""
    lead_id = lead.lead_id

    def group(key: str) -> str:
        return (groups.get(key) or "").strip()

    if intent == "why_now":
        return {"name": "why_now", "args": {"lead_id": lead_id}}
    if intent == "follow_up":
        about = group("about")
        return {"name": "propose_follow_up",
                "args": {"lead_id": lead_id, "instruction": f"Mention {about}" if about else ""}}
    if intent == "reassign":
        target = resolve_member(group("target"), team)
        if target is None:
            return f"I don't know who \"{group('target')}\" is on the team."
        return {"name": "propose_reassign", "args": {"lead_id": lead_id, "to": target.key}}
    if intent == "snooze":
        until = parse_when(group("when"), today)
        if until is None or until <= today:
            return (f"I couldn't read \"{group('when')}\" as a future day (try Monday, "
                    "tomorrow, next week, 3 days or 2026-12-07).")
        return {"name": "propose_snooze", "args": {"lead_id": lead_id, "until": until.isoformat()}}
    if intent == "disposition":
        code = parse_disposition(group("what"))
        if code is None:
            return (f"I couldn't tell which disposition \"{group('what')}\" is (not now, no "
                    "response, not ICP, competitor, duplicate, meeting set, connected).")
        return {"name": "propose_disposition", "args": {"lead_id": lead_id, "reason_code": code}}
    raise ValueError(f"unexpected intent {intent!r}")


def parse(text: str, *, leads: list[LeadRef], team: list[MemberRef], today: date,
          pending: dict[str, Any] | None = None) -> Parsed:
    """Understand one message. `pending` is the earlier ask that waits for "which one?"."""
    text = " ".join(text.split())
    if pending:
        chosen = _choice(text, pending, leads)
        if chosen is not None:
            made = _call(pending["intent"], chosen, pending.get("groups") or {}, team, today)
            return Parsed(question=made) if isinstance(made, str) else Parsed(calls=[made])
    for intent, pattern in _PATTERNS:
        m = pattern.search(text)
        if m is None:
            continue
        if intent == "queue":
            return Parsed(calls=[{"name": "queue", "args": {}}])
        if intent == "kpis":
            return Parsed(calls=[{"name": "kpis", "args": {"days": _kpi_days(text)}}])
        if intent == "search_content":
            query = m["query"] or text
            return Parsed(calls=[{"name": "search_content", "args": {"query": query}}])
        found = resolve_lead(m["name"], leads)
        if found.candidates:
            listed = "\n".join(f"{i}. {c.label}" for i, c in enumerate(found.candidates, 1))
            groups = {k: v for k, v in m.groupdict().items() if k != "name" and v}
            return Parsed(question=f"Which \"{found.name}\" do you mean?\n{listed}",
                          pending={"intent": intent, "groups": groups,
                                   "candidates": [c.lead_id for c in found.candidates]})
        if found.lead is None:
            return Parsed(not_found=found.name)
        groups = {k: v for k, v in m.groupdict().items() if k != "name" and v}
        made = _call(intent, found.lead, groups, team, today)
        return Parsed(question=made) if isinstance(made, str) else Parsed(calls=[made])
    return Parsed(unknown=True)
