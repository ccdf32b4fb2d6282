"""Pre-send guardrails: pure checks that block an approved email and say why.

`send_blocks` checks who may be written to and when; `content_blocks` checks what a draft says
(nobody else's name, no address but the lead's, links only to allow-listed domains);
`assistant_instructions` spots lead text written to instruct an AI assistant.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache

from agent.privacy import (
    EMAIL,
    URL,
    bare_domains,
    domain_allowed,
    domain_of_link,
    fold,
    is_common_word,
    normalize,
    normalize_domain,
    whole_word,
)


@dataclass(frozen=True)
class SendFacts:
    """What the store knows at the moment of sending."""

    recipient: str | None
    unsubscribed: bool
    consent: bool | None
    suppressed_until: datetime | None
    suppression_reason: str | None
    sent_last_7_days: int
    lead_owner: str | None
    approver_may_send_for_owner: bool
    content_matches_approval: bool
    now: datetime


def send_blocks(facts: SendFacts, *, max_messages_per_week: int) -> list[str]:
    """Every reason the message must not go out; empty means it may."""
    blocks: list[str] = []
    if not facts.recipient:
        blocks.append("no recipient on the lead record (erased?)")
    if facts.unsubscribed:
        blocks.append("the lead unsubscribed")
    if facts.consent is False and not facts.unsubscribed:
        blocks.append("the lead withdrew email consent")
    if facts.suppressed_until is not None and facts.suppressed_until > facts.now:
        blocks.append(f"suppressed until {facts.suppressed_until:%Y-%m-%d} "
                      f"({facts.suppression_reason or 'suppression window'})")
    if facts.sent_last_7_days >= max_messages_per_week:
        blocks.append(f"frequency cap: {facts.sent_last_7_days} messages in the last 7 days "
                      f"(at most {max_messages_per_week})")
    if not facts.approver_may_send_for_owner:
        blocks.append(f"another owner is active on this lead ({facts.lead_owner})")
    if not facts.content_matches_approval:
        blocks.append("the draft changed after it was approved")
    return blocks


# -- what a draft says ------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadIdentity:
    """Who a draft is for: the names it may use and the one address it may show."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    domain: str | None = None

    def names(self) -> list[str]:
        """The lead's own names (full name first), as a draft may write them."""
        full = " ".join(p for p in (self.first_name, self.last_name) if p)
        return [v for v in (full, self.first_name, self.last_name, self.company) if v]

    def own_domains(self) -> set[str]:
        domains = {self.email.rpartition("@")[2]}
        if self.domain:
            domains.add(self.domain)
        return {normalize_domain(d) for d in domains if d}


def _spans(text: str, values: Iterable[str]) -> list[tuple[int, int]]:
    spans = []
    for value in values:
        key = fold(value)
        if len(key) >= 2 and key.split(" ", 1)[0] in text:  # cheap test before the regex
            spans += [m.span() for m in whole_word(key).finditer(text)]
    return spans


_WORD_RUN = re.compile(r"\w+")


@lru_cache(maxsize=65536)
def _name_key(value: str) -> tuple[str, frozenset[str], bool]:
    """(folded key, its runs of word characters, whether a draft may not be blamed for it).

    A whole-word match of the key makes each of its word runs a whole word of the text (the
    characters around each run are the key's own non-word characters or the match's
    boundaries), so a key with a run the text lacks cannot match: most of the candidate
    records the store finds (a shared surname, a company name's first word) are dismissed
    by a set lookup instead of a regex scan. Cached: the same records come back draft after
    draft."""
    key = fold(value)
    skip = len(key) < 2 or (" " not in key and is_common_word(key))
    return key, frozenset(_WORD_RUN.findall(key)), skip


def foreign_names(text: str, *, lead: LeadIdentity, other_people: Iterable[str],
                  allowed_names: Iterable[str] = ()) -> list[str]:
    """The strings of `other_people` (names and companies from other records) that `text`
    mentions, outside the lead's own names and `allowed_names`. A one-word name that is also a
    common word ("Will", "Best") is not a mention; full names and companies always are."""
    folded = fold(text)
    words = frozenset(_WORD_RUN.findall(folded))
    own = [*lead.names(), *allowed_names]
    own_keys = {fold(v) for v in own}
    own_spans: list[tuple[int, int]] | None = None  # found on the first candidate that matches
    found: list[str] = []
    for value in dict.fromkeys(other_people):
        key, runs, skip = _name_key(value)
        if skip or key in own_keys or not runs <= words:
            continue
        for match in whole_word(key).finditer(folded):
            if own_spans is None:
                own_spans = _spans(folded, own)
            start, end = match.span()
            if not any(s <= start and end <= e for s, e in own_spans):
                found.append(value)
                break
    return found


def foreign_addresses(text: str, *, lead: LeadIdentity, allowed_domains: Iterable[str],
                      allowed_addresses: Iterable[str] = ()) -> list[str]:
    """Email addresses in `text` other than the lead's own, the team's and the vendor's."""
    allowed = {a.casefold() for a in allowed_addresses} | {lead.email.casefold()}
    domains = list(allowed_domains)
    return [address for address in dict.fromkeys(EMAIL.findall(normalize(text)))
            if address.casefold() not in allowed
            and not domain_allowed(address.rpartition("@")[2], domains)]


def unlisted_links(text: str, *, lead: LeadIdentity, allowed_domains: Iterable[str]
                   ) -> list[str]:
    """Domains of the links in `text` that are not on the allow-list (with a scheme, `www.`, or
    bare `name.tld/...`). The lead's own domain may be named bare ("the acme.io team") but not
    linked to: a link taken from the lead's own text is not allowed."""
    text = normalize(text)
    domains = list(allowed_domains)
    bad: list[str] = []
    for match in URL.finditer(text):
        host = domain_of_link(match.group(0))
        if host is None:
            bad.append("(unreadable link)")
        elif not domain_allowed(host, domains):
            bad.append(host)
    rest = EMAIL.sub(" ", URL.sub(" ", text))
    own = lead.own_domains()
    for domain, _, has_path in bare_domains(rest):
        if domain_allowed(domain, domains) or (domain in own and not has_path):
            continue
        bad.append(domain)
    return list(dict.fromkeys(bad))


def content_blocks(
    subject: str,
    body: str,
    *,
    lead: LeadIdentity,
    other_people: Iterable[str],
    allowed_domains: Iterable[str],
    allowed_addresses: Iterable[str] = (),
    allowed_names: Iterable[str] = (),
) -> list[str]:
    """Every reason this text must not be sent to `lead`; empty means it may.

    `other_people`: names and companies from other records in the store (leads, support
    contacts); `allowed_names`: names a draft may use even when a record carries them too (the
    sender's and colleagues', the vendor's, competitors', the recommended asset's title);
    `allowed_domains`: the policy's link allow-list (subdomains included);
    `allowed_addresses`: addresses besides the lead's that a draft may show (the team's).
    The reasons never quote another person's name: they end up in this lead's records.
    """
    text = f"{subject}\n{body}"
    domains = list(allowed_domains)
    blocks: list[str] = []
    names = foreign_names(text, lead=lead, other_people=other_people,
                          allowed_names=allowed_names)
    if names:
        blocks.append(f"mentions someone other than the lead: {len(names)} name"
                      f"{'s' if len(names) > 1 else ''} of a person or company from another "
                      "record in the store")
    if foreign_addresses(text, lead=lead, allowed_domains=domains,
                         allowed_addresses=allowed_addresses):
        blocks.append("contains an email address other than the lead's own")
    links = unlisted_links(text, lead=lead, allowed_domains=domains)
    if links:
        shown = ", ".join(links[:3]) + (f" and {len(links) - 3} more" if len(links) > 3 else "")
        blocks.append(f"links to a domain not on the policy's allow-list ({shown})")
    return blocks


# -- text aimed at the assistant --------------------------------------------------------------

# (label, pattern). Matched against normalised, case-folded text with whitespace collapsed, so
# "IGNORE   previous\ninstructions" and full-width or zero-width disguises match too.
_ADDRESS = r"[\w.%+'-]+@[\w.-]+\.\w{2,}"
_INSTRUCTION_SOURCES: tuple[tuple[str, str], ...] = (
    ("ignore previous instructions",
     r"\b(?:ignore|disregard|forget|override|bypass|skip)\b(?:\W+\w+){0,4}?\W+"
     r"(?:instructions?|rules|prompts?|directions|guidelines|guardrails|polic(?:y|ies)|"
     r"constraints|system message|package|context|everything)\b|"
     r"\b(?:ignore|disregard)\b(?:\W+(?:all|the|everything))?\W+above\b"),
    ("role change", r"\byou are now\b|\bfrom now on,? you\b|\bact as (?:an?|the|my)\b|"
                    r"\bpretend (?:to be|you are)\b|\b(?:developer|admin|god|debug) mode\b|"
                    r"\bjailbreak|\bnew (?:rule|instructions?)\b"),
    ("role marker", r"(?:^|[\n.!?]\s*)(?:system|assistant|developer|ai)\s*:|<\|im_start\|>|"
                    r"<\|im_end\|>|\[/?inst\]|<</?sys>>|</?(?:lead_data|rep_instruction|"
                    r"system|previous_draft|rep_style_examples)>"),
    ("addressing the assistant", r"(?:^|[\n.!?,;]\s*|\bp\.?s\.?\s*)(?:dear |hey |hi )?"
                                 r"(?:assistant|ai|chatgpt|gpt|llm|bot|language model)\s*[,:]"),
    ("redirect the email",
     rf"\b(?:send|forward|email|mail|deliver|write)\b[^.\n]{{0,120}}\bto\s+{_ADDRESS}|"
     rf"\b(?:b?cc|reply-to|recipient)\b(?:\W+\w+){{0,3}}?\W+{_ADDRESS}|\bbcc\b|"
     rf"\b(?:to|cc|reply-to)[\"']?\s*[:=]\s*[\"']?{_ADDRESS}|^(?:to|cc|reply-to)\s*:"),
    ("include a link", r"\b(?:include|insert|add|put|use|paste)\b(?:\W+\w+){0,4}?\W+"
                       r"(?:links?|urls?|https?://|www\.)"),
    ("reveal data", r"\b(?:print|reveal|show|repeat|output|translate|leak|disclose|include|"
                    r"share|give|provide)\b(?:\W+\w+){0,5}?\W+(?:system prompt|prompt|"
                    r"instructions|api keys?|passwords?|credentials|access tokens?|"
                    r"(?:other |previous )?(?:leads?|customers?)(?:'s?)? (?:emails?|email "
                    r"address(?:es)?|contact details|data))\b|"
                    r"\b(?:summari[sz]e|tell me|list|share)\b(?:\W+\w+){0,2}?\W+you know "
                    r"about\b"),
    ("skip the approval", r"\bwithout (?:waiting for |any )?(?:approval|review|a human)\b|"
                          r"\bpre-?approved\b|\bapprove (?:this|the|it)\b[^.\n]{0,30}"
                          r"\byourself\b|\bmark it as sent\b"),
    ("template code", r"\{\{.{0,80}?\}\}|\{%.{0,80}?%\}"),
    # Cheap coverage of other languages: "ignore the previous instructions", "you are now".
    ("ignore previous instructions (other language)",
     r"\b(?:ignorez|ignora|ignoriere|ignorieren|ignore)\b(?:\W+\w+){0,4}?\W+"
     r"(?:instrucciones|istruzioni|instruções|anweisungen|consignes)\b|"
     r"\bignorez\b(?:\W+\w+){0,4}?\W+instructions\b|"
     r"\bnegeer\b(?:\W+\w+){0,3}?\W+instructies\b|"
     r"\b(?:vergiss|vergessen sie)\b(?:\W+\w+){0,4}?\W+anweisungen\b|"
     r"忽略.{0,8}(?:指令|指示|说明|规则)|(?:指示|命令|ルール).{0,6}無視|"
     r"игнорируй.{0,30}инструкции|"
     r"\b(?:tu es|vous êtes) maintenant\b|\bahora eres\b|\bdu bist jetzt\b|\bora sei\b|"
     r"\bagora você é\b|\bje bent nu\b"),
    ("redirect the email (other language)",
     rf"\b(?:envoie[sz]?|envíe|envía|sende|schick|invia|envie|stuur)\b[^.\n]{{0,60}}"
     rf"\b(?:à|a|an|naar)\s+{_ADDRESS}"),
)


@cache
def _instruction_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    # Compiled on first use, not at import: the web process imports this module at startup.
    return tuple((label, re.compile(pattern, re.MULTILINE))
                 for label, pattern in _INSTRUCTION_SOURCES)


def assistant_instructions(text: str) -> list[str]:
    """What kinds of instruction aimed at an AI assistant `text` contains ("ignore previous
    instructions", "redirect the email", ...), none when it reads like a person writing to a
    person. A hint for the rep, not a filter: the drafter treats all lead text as data anyway."""
    # Invisible characters become spaces here, so "send\u200bto\u200bx@y.z" reads as words.
    folded = re.sub(r"[ \t]+", " ", normalize(text, invisible=" ").casefold())
    return [label for label, pattern in _instruction_patterns() if pattern.search(folded)]


def content_hash(subject: str, body: str) -> str:
    """The fingerprint of approved text: a send whose text differs from it is refused."""
    return hashlib.sha256(f"{subject}\x00{body}".encode()).hexdigest()
