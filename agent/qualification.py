"""Lead qualification: the policy file read by small pure functions.

Disqualifiers, firmographic fit, decayed intent, the hand-raise and "rising engagement" tests,
and the route that decides who works a lead (the seeds' transition matrix). Nothing here does
I/O or reads a clock: `now` is always passed in, timezone-aware.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from agent.models import Band, Disqualifier, Fit, LeadProfile, Qualification, Signal
from agent.policy import Policy, Route, TargetAccount

# Senders' clocks drift; an event stamped a little in the future is treated as "just now",
# one far in the future is a bad timestamp and carries no weight.
CLOCK_SKEW = timedelta(minutes=5)

# Events that are never buying intent, whatever weight a policy file gives them: opting out,
# consent bookkeeping and support tickets describe the relationship, not a wish to buy.
ZERO_INTENT_TYPES = frozenset({"unsubscribe", "consent", "support_ticket"})

_EVENT_LABELS = {
    "page_view": "page view",
    "email_open": "email open",
    "email_click": "email click",
    "form_submit": "form",
    "event_attended": "event attended",
    "inbound_reply": "inbound reply",
    "meeting_booked": "meeting booked",
    "product_usage": "product usage",
    "support_ticket": "support ticket",
    "unsubscribe": "unsubscribe",
    "consent": "consent change",
}

# A title is cut into parts at these separators ("Intern, Marketing", "Student at MIT",
# "Head of Sales | Acme"), so each part's head noun can be judged on its own.
_TITLE_SEPARATORS = re.compile(r"[,;|/()\[\]@·•]|\s[-–—]\s|\bat\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


# --- helpers -------------------------------------------------------------------------------


def _utc(at: datetime) -> datetime:
    # Stored timestamps are UTC; a naive one can only be a storage artefact, so read it as UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _require_aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be a timezone-aware datetime")
    return now.astimezone(UTC)


def _words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower())


def _contains_phrase(words: Sequence[str], phrase: Sequence[str]) -> list[int]:
    """Start indexes where `phrase` occurs in `words` as whole words."""
    n = len(phrase)
    if n == 0:
        return []
    return [i for i in range(len(words) - n + 1) if list(words[i:i + n]) == list(phrase)]


def normalize_domain(value: str | None) -> str:
    """A bare lower-case host name from a domain, URL or email address ("" when none)."""
    text = (value or "").strip().lower()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    text = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    return text.rstrip(".")


def _within(domain: str, parent: str) -> bool:
    """`domain` is `parent` or one of its subdomains (never a look-alike such as notparent.com)."""
    parent = normalize_domain(parent)
    return bool(domain and parent) and (domain == parent or domain.endswith("." + parent))


def _lead_domains(lead: LeadProfile) -> list[str]:
    # Both the address and the CRM's company domain identify the account; either may be missing.
    found: list[str] = []
    for candidate in (normalize_domain(lead.email) if "@" in lead.email else "",
                      normalize_domain(lead.domain)):
        if candidate and candidate not in found:
            found.append(candidate)
    return found


def _domain_problem(email: str) -> str | None:
    """Why an address has no usable domain, or None when it looks deliverable."""
    address = email.strip()
    if "@" not in address:
        return "email address has no @"
    if address.count("@") > 1:
        return "email address has more than one @"
    local, domain = address.split("@")
    if not local or any(c.isspace() for c in address):
        return "email address is malformed"
    if not domain:
        return "email address has no domain"
    domain = domain.lower()
    if not domain.isascii():
        # International domains are fine once in their ASCII (punycode) form.
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return f"email domain {domain!r} is not a valid international domain"
    if len(domain) > 253:
        return "email domain is too long"
    if "." not in domain:
        return f"email domain {domain!r} has no dot"
    labels = domain.split(".")
    if any(label == "" for label in labels):
        return f"email domain {domain!r} has an empty label"
    if not all(_LABEL.match(label) for label in labels):
        return f"email domain {domain!r} has invalid characters"
    if not _TLD.match(labels[-1]):
        return f"email domain {domain!r} has no valid top-level domain"
    return None


def _student_title(title: str | None, words: Iterable[str]) -> str | None:
    """The student word heading some part of the title, if any.

    A student word only counts as the head noun of a title part (its last word): "PhD Student",
    "Marketing Intern", "Intern, Sales", "Student at MIT" are students, while "Student Success
    Manager", "Intern Program Lead" or "Student Services Director" are staff who work *with*
    students, and may well be buyers.
    """
    phrases = [_words(w) for w in words]
    for part in _TITLE_SEPARATORS.split(title or ""):
        part_words = _words(part)
        for phrase in phrases:
            if phrase and part_words[-len(phrase):] == phrase:
                return " ".join(phrase)
    return None


def _senior_word(title: str | None, words: Iterable[str]) -> str | None:
    """The first senior title word found as a whole word ("VP Operations" -> "vp").

    A match right after "to" / "to the" does not count: "Executive Assistant to the CEO" works
    for a senior person without being one.
    """
    title_words = _words(title)
    for word in words:
        phrase = _words(word)
        for i in _contains_phrase(title_words, phrase):
            before = title_words[max(0, i - 2):i]
            if before[-1:] == ["to"] or before == ["to", "the"]:
                continue
            return " ".join(phrase)
    return None


def _title_label(word: str) -> str:
    # Acronyms read as acronyms ("VP", "CEO"); words as title case ("Director", "Vice President").
    return word.upper() if len(word) <= 3 else word.title()


# --- disqualifiers and fit -----------------------------------------------------------------


def disqualifiers(lead: LeadProfile, policy: Policy) -> list[Disqualifier]:
    """Every reason the policy refuses this lead outright, at most one per code.

    Students (title head noun or an academic email suffix), competitors (email or company
    domain, subdomains included), addresses without a valid-looking domain, and throwaway
    mailboxes. Each carries a human-readable reason for the rep and the audit log.
    """
    rules = policy.disqualifiers
    found: list[Disqualifier] = []
    email_problem = _domain_problem(lead.email)
    email_domain = "" if email_problem else normalize_domain(lead.email)

    student_reasons: list[str] = []
    word = _student_title(lead.title, rules.student_title_words)
    if word is not None:
        title = (lead.title or "").strip()
        short = title if len(title) <= 60 else title[:57] + "..."
        student_reasons.append(f"title {short!r} reads as a {word}")
    for suffix in rules.student_email_suffixes:
        # ".edu" must be a whole trailing label: "education.com" is a company, "mit.edu" is not.
        bare = suffix.strip().lower().lstrip(".")
        if bare and _within(email_domain, bare):
            student_reasons.append(f"academic email domain {email_domain} ({'.' + bare})")
            break
    if student_reasons:
        found.append(Disqualifier(code="student", reason="; ".join(student_reasons)))

    for domain in _lead_domains(lead):
        competitor = next((c for c in rules.competitor_domains if _within(domain, c)), None)
        if competitor is not None:
            found.append(Disqualifier(
                code="competitor", reason=f"competitor domain {domain} ({competitor})"))
            break

    if email_problem is not None:
        found.append(Disqualifier(code="invalid_domain", reason=email_problem))

    throwaway = next((t for t in rules.throwaway_domains if _within(email_domain, t)), None)
    if throwaway is not None:
        found.append(Disqualifier(
            code="throwaway_domain", reason=f"throwaway email domain {email_domain}"))
    return found


def fit(lead: LeadProfile, policy: Policy) -> Fit:
    """Firmographic fit, 0..100, from the policy's ICP points, with short reasons.

    Segment (by employee count), industry (case-insensitive), country and a senior title each add
    their points; a free-mail address takes points away. `in_icp` needs both an ICP segment and an
    ICP country: industry and title widen the score, not the definition of the market.
    """
    icp = policy.icp
    points = icp.fit_points
    score = 0
    reasons: list[str] = []

    segment = policy.segment_for(lead.employees)
    segment_ok = segment is not None and segment in icp.segments
    if segment is None:
        reasons.append("company size unknown" if lead.employees is None
                       else f"company size {lead.employees} outside every segment")
    elif segment_ok:
        score += points.segment
        reasons.append(f"{segment} ({lead.employees} employees)")
    else:
        reasons.append(f"{segment} ({lead.employees} employees) outside ICP")

    industry = (lead.industry or "").strip()
    if not industry:
        reasons.append("industry unknown")
    elif industry.casefold() in {i.casefold() for i in icp.industries}:
        score += points.industry
        reasons.append(f"industry {industry}")
    else:
        reasons.append(f"industry {industry} outside ICP")

    country = (lead.country or "").strip().upper()
    country_ok = country in {c.upper() for c in icp.countries}
    if not country:
        reasons.append("country unknown")
    elif country_ok:
        score += points.country
        reasons.append(f"country {country}")
    else:
        reasons.append(f"country {country} outside ICP")

    senior = _senior_word(lead.title, icp.senior_title_words)
    if senior is not None:
        score += points.seniority
        reasons.append(f"{_title_label(senior)} title")

    email_domain = normalize_domain(lead.email) if "@" in lead.email else ""
    if email_domain in {d.lower() for d in icp.free_email_domains}:
        score -= points.free_email_penalty
        reasons.append(f"free email ({email_domain})")

    return Fit(score=float(max(0, min(100, score))), segment=segment,
               in_icp=segment_ok and country_ok, reasons=reasons)


# --- intent ------------------------------------------------------------------------------


def _form(signal: Signal) -> str:
    return str(signal.properties.get("form") or "").strip().lower()


def _change_pct(signal: Signal) -> float:
    raw = signal.properties.get("change_pct")
    try:
        return float(str(raw).strip().rstrip("%")) if raw is not None else 0.0
    except ValueError:
        return 0.0


def _page_rule_index(signal: Signal, policy: Policy) -> int | None:
    url = str(signal.properties.get("url") or "").lower()
    if not url:
        return None
    return next((i for i, rule in enumerate(policy.scoring.page_rules)
                 if rule.pattern.lower() in url), None)


def base_weight(signal: Signal, policy: Policy) -> float:
    """The undecayed intent weight of one signal under the policy."""
    scoring = policy.scoring
    if signal.type in ZERO_INTENT_TYPES:
        return 0.0
    if signal.type == "form_submit":
        form = _form(signal)
        return float(scoring.form_weights.get(form, scoring.event_weights.get("form_submit", 0.0)))
    if signal.type == "page_view":
        # The first matching rule wins, so the policy orders rules from most to least telling.
        index = _page_rule_index(signal, policy)
        if index is not None:
            return float(scoring.page_rules[index].weight)
        return float(scoring.event_weights.get("page_view", 0.0))
    if signal.type == "product_usage" and _change_pct(signal) <= 0:
        # Flat or falling usage is not a reason to call anyone.
        return 0.0
    return float(scoring.event_weights.get(signal.type, 0.0))


def _age(signal: Signal, now: datetime) -> timedelta | None:
    """How old a signal is at `now`, or None when it is a bad future timestamp."""
    age = now - _utc(signal.occurred_at)
    if age < -CLOCK_SKEW:
        return None
    return max(age, timedelta(0))


def signal_weight(signal: Signal, now: datetime, policy: Policy) -> float:
    """The intent weight of one signal at `now`: base weight halved every half-life.

    Zero outside the scoring window or when stamped further in the future than the clock skew.
    """
    now = _require_aware(now)
    age = _age(signal, now)
    scoring = policy.scoring
    if age is None or age > timedelta(days=scoring.window_days):
        return 0.0
    weight = base_weight(signal, policy)
    if weight == 0.0:
        return 0.0
    return weight * 0.5 ** ((age / timedelta(days=1)) / scoring.half_life_days)


def intent(signals: Iterable[Signal], now: datetime, policy: Policy) -> float:
    """Buying intent at `now`: the sum of the signals' decayed weights (uncapped)."""
    return sum((signal_weight(s, now, policy) for s in signals), 0.0)


def signal_label(signal: Signal, policy: Policy) -> str:
    """A short human name for a signal ("pricing page", "demo form", "inbound reply").

    Built only from the event type, the policy's own labels and known form names, never from
    lead-supplied text, so it is safe in prompts and Slack cards.
    """
    if signal.type == "page_view":
        index = _page_rule_index(signal, policy)
        return policy.scoring.page_rules[index].label if index is not None else "page view"
    if signal.type == "form_submit":
        form = _form(signal)
        known = form in policy.scoring.form_weights or form in policy.routing.hand_raise_forms
        return f"{form} form" if known else "form submission"
    if signal.type == "product_usage":
        return "product usage up" if _change_pct(signal) > 0 else "product usage"
    return _EVENT_LABELS.get(signal.type, signal.type.replace("_", " "))


def is_rising(signals: Iterable[Signal], now: datetime, policy: Policy) -> bool:
    """Engagement is rising: the last `rising_window_days` outweigh the same span before them.

    Undecayed weights, so the comparison measures activity rather than the decay curve.
    """
    now = _require_aware(now)
    span = timedelta(days=policy.routing.rising_window_days)
    recent = previous = 0.0
    for signal in signals:
        age = _age(signal, now)
        if age is None:
            continue
        if age < span:
            recent += base_weight(signal, policy)
        elif age < 2 * span:
            previous += base_weight(signal, policy)
    return recent > 0 and recent > previous


def is_hand_raise(signal: Signal, policy: Policy) -> bool:
    """A signal in which the person asks for contact (demo/contact/pricing form, reply, meeting)."""
    routing = policy.routing
    if signal.type == "form_submit":
        return _form(signal) in {f.lower() for f in routing.hand_raise_forms}
    return signal.type in routing.hand_raise_events


def latest_hand_raise(signals: Iterable[Signal], now: datetime, policy: Policy) -> Signal | None:
    """The most recent hand-raise no older than `hand_raise_window_hours`, if any."""
    now = _require_aware(now)
    window = timedelta(hours=policy.routing.hand_raise_window_hours)
    latest: Signal | None = None
    for signal in signals:
        age = _age(signal, now)
        if age is None or age > window or not is_hand_raise(signal, policy):
            continue
        if latest is None or _utc(signal.occurred_at) >= _utc(latest.occurred_at):
            latest = signal
    return latest


# --- the verdict -------------------------------------------------------------------------


def target_account(lead: LeadProfile, policy: Policy) -> TargetAccount | None:
    """The policy's named account this lead belongs to (email or company domain), if any."""
    domains = _lead_domains(lead)
    for account in policy.routing.target_accounts:
        if any(_within(domain, account.domain) for domain in domains):
            return account
    return None


def band_for(score: float, policy: Policy) -> Band:
    """A, B or C from the policy's thresholds (each threshold belongs to the higher band)."""
    if score >= policy.bands.A:
        return "A"
    if score >= policy.bands.B:
        return "B"
    return "C"


def qualify(lead: LeadProfile, signals: Sequence[Signal], now: datetime,
            policy: Policy) -> Qualification:
    """The policy's verdict on a lead at `now`: score, band and route.

    Route precedence (the transition matrix): disqualified -> a hand-raise within the window ->
    a target account showing any engagement -> band A with ICP fit and rising engagement ->
    nurture (automated, no human).
    """
    now = _require_aware(now)
    signals = list(signals)
    found_disqualifiers = disqualifiers(lead, policy)
    lead_fit = fit(lead, policy)
    lead_intent = intent(signals, now, policy)
    rising = is_rising(signals, now, policy)
    hand_raise = latest_hand_raise(signals, now, policy)
    account = target_account(lead, policy)

    share = policy.scoring.fit_share
    score = round(share * lead_fit.score
                  + (1 - share) * min(lead_intent, policy.scoring.intent_cap), 1)
    band: Band = "disqualified" if found_disqualifiers else band_for(score, policy)

    route: Route
    if found_disqualifiers:
        route = "disqualified"
    elif hand_raise is not None:
        route = "hand_raise"
    elif account is not None and lead_intent > 0:
        route = "strategic"
    elif band == "A" and lead_fit.in_icp and rising:
        route = "band_a"
    else:
        route = "nurture"

    return Qualification(
        score=score,
        band=band,
        fit=lead_fit,
        intent=round(lead_intent, 2),
        rising=rising,
        disqualifiers=found_disqualifiers,
        route=route,
        hand_raise_event_id=hand_raise.event_id if hand_raise is not None else None,
        # A named account keeps its owner whatever brought the lead in (a hand-raise included).
        strategic_owner=account.owner if account is not None and not found_disqualifiers
        else None,
        policy_version=policy.version,
    )
