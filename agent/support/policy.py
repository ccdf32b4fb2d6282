"""The `[support]` section of the policy file: when the bot hands a conversation to a person,
how long a transfer may wait unclaimed, and the thresholds retrieval is judged by.

Policy is data. Every field has a default, so a policy file without `[support]` still works; a
`[support]` table that is present is validated strictly (unknown keys and bad regexes are
errors naming the field). The section is read from the same file as the rest of the policy
(`HITL_POLICY_FILE`), and audit entries record the file's `version`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.policy import PolicyFileError, Role

TriggerName = Literal[
    "asked_for_human", "churn_threat", "negative_sentiment", "sensitive_topic",
    "high_value_account", "repeated_question", "low_confidence",
]
TRIGGER_NAMES: tuple[TriggerName, ...] = (
    # A named topic (billing dispute, security, legal) is a more useful reason than the anger
    # that usually comes with it, so it ranks above sentiment.
    "asked_for_human", "churn_threat", "sensitive_topic", "negative_sentiment",
    "high_value_account", "repeated_question", "low_confidence",
)
EmbeddingsMode = Literal["local", "openai"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _compiled(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from None
    return patterns


class PatternTrigger(_Frozen):
    """A trigger that fires when one of its (case-insensitive) regular expressions matches."""

    enabled: bool = True
    patterns: list[str]

    @field_validator("patterns")
    @classmethod
    def _valid(cls, value: list[str]) -> list[str]:
        return _compiled(value)


ASKED_FOR_HUMAN = [
    r"\b(talk|speak|chat)\s+(to|with)\s+(a|an|some|the|your|one of your)?\s*(real|live|actual)?"
    r"\s*(human|person|people|agent|representative|rep|someone|somebody|"
    r"support (agent|person|team))\b",
    r"\b(real|live|actual)\s+(human|person|agent)\b",
    r"\bhuman(\s+being)?[\s,!.]*(please|pls|now)\b",
    r"\b(get|connect|transfer|put)\s+me\s+(to|through to|with)\s+(a|an|the|your)?\s*"
    r"(human|person|agent|representative|rep|someone|somebody|support)\b",
    r"\b(want|need|prefer)\s+(a|to talk to a|to speak to a|to speak with a)\s+(human|person)\b",
    r"\b(no|not|stop)\s+(more\s+)?(a\s+|the\s+|this\s+)?(bot|robot|chatbot)\b",
    # The one-word escape: "agent", "human please" is above.
    r"^\W*(an?\s+)?(live\s+|real\s+)?(agent|human|person|representative|operator)\W*$",
    r"\bis\s+there\s+(a|an|any)\s+(real\s+|live\s+)?(human|person|agent|representative)\s+"
    r"(i|we)\s+(can|could)\b",
    r"\b(call|phone|ring)\s+(me|us)\b",
    # German, French, Spanish (issue 18): "mit einem Menschen sprechen", "parler à un
    # conseiller", "hablar con una persona".
    r"\b(mit|zu)\s+(einem|einer|einen|jemandem|jemand)\s+(echten\s+|richtigen\s+|realen\s+)?"
    r"(menschen|mensch|person|mitarbeiter(in)?|berater(in)?|support[- ]?mitarbeiter(in)?)\b",
    r"\b(menschen|mitarbeiter(in)?|berater(in)?)\s+(sprechen|reden)\b",
    r"\b(echte[nr]?|richtige[nr]?)\s+(menschen|mensch|person)\b",
    r"\bkein(en)?\s+(bot|roboter|chatbot)\b",
    r"\b(ruf|rufen)\s+(sie\s+)?mich\s+(bitte\s+)?(zur(ü|ue)ck|an)\b",
    r"\bparler\s+(à|a|avec)\s+(un|une|quelqu['’]un)?\s*(vrai(e)?\s+)?(humain|personne|"
    r"conseill(er|ère|ere)|agent|op(é|e)rat(eur|rice)|interlocut(eur|rice)|technicien(ne)?)\b",
    r"\b(une?\s+)?vrai(e)?\s+(personne|humain)\b",
    r"\bpas\s+(un|de)\s+(robot|bot|chatbot)\b",
    r"\b(rappelez|appelez)[- ]moi\b",
    r"\bhablar\s+con\s+(un|una|alg(u|ú)n|alguien\s+de)?\s*(humano|persona|agente|asesor(a)?|"
    r"representante|operador(a)?|alguien)\b",
    r"\b(persona|humano)\s+real\b",
    r"\bll(á|a)m(e|en)(me|nos)\b",
]
CHURN_THREAT = [
    r"\bcancel(l?ing|l?ed)?\s+(my|our|the)\s+(account|subscription|contract|plan|service|renewal)\b",
    r"\b(want|going|plan|planning|need|ready|about|decided)\s+to\s+cancel\b",
    r"\b(terminate|terminating|end|ending)\s+(my|our|the)\s+(contract|subscription|account|agreement)\b",
    r"\b(not|won't|will not|aren't|are not|am not)\s+(be\s+|going\s+to\s+)?renew(ing)?\b",
    r"\b(switch|switching|move|moving|migrate|migrating|go|going)\s+(over\s+)?to\s+(a\s+)?"
    r"(competitor|another (vendor|tool|provider|platform)|rivalsoft|pipelinepro|leadforge)\b",
    r"\b(we|i)('ll|\s+will|'re|\s+are|\s+am|'m)\s+(going\s+to\s+)?"
    r"(leave|leaving|walk away|churn)\b",
    r"\b(or|otherwise)\s+(we|i)('ll|\s+will)\s+(cancel|leave|go elsewhere|switch)\b",
    r"\b(take|taking)\s+(our|my)\s+business\s+elsewhere\b",
    r"\bgo(ing)?\s+elsewhere\b",
    # German, French, Spanish (issue 18).
    r"\b(wir|ich)\s+(werden|will|wollen|m(ö|oe)chten)\s+(\w+\s+){0,3}k(ü|ue)ndigen\b",
    r"\bk(ü|ue)ndig(en|e)\s+(den|unseren|meinen|das|unser|mein)\s+(vertrag|abo|abonnement|konto)\b",
    r"\b(nicht|kein)\s+(mehr\s+)?verl(ä|ae)nger(n|t)\b",
    r"\bzur\s+konkurrenz\b",
    r"\b(on|nous)\s+(allons|va|voulons|veut)\s+(r(é|e)silier|annuler|partir)\b",
    r"\b(r(é|e)silier|annuler)\s+(notre|mon|l['’])\s*(abonnement|contrat|compte)\b",
    r"\bne\s+(pas\s+)?(le\s+|la\s+)?renouveler\b",
    r"\b(passer|aller)\s+(à|a|chez)\s+la\s+concurrence\b",
    r"\b(vamos|voy)\s+a\s+(cancelar|dar\s+de\s+baja|irnos)\b",
    r"\bcancelar\s+(la|mi|nuestra|el|nuestro)\s+(suscripci(ó|o)n|cuenta|contrato|plan)\b",
    r"\bno\s+(vamos\s+a\s+)?renovar\b",
    r"\b(irnos|cambiarnos|pasarnos)\s+a\s+la\s+competencia\b",
]
SENSITIVE_TOPICS: dict[str, list[str]] = {
    "billing_dispute": [
        r"\b(double|twice)[- ]charged\b",
        r"\bcharged\s+(me\s+|us\s+)?(twice|double|two times)\b",
        r"\bover-?charg(ed|ing)\b",
        r"\bcharge-?backs?\b",
        r"\bdisput(e|ed|ing)\b",
        r"\b(want|need|demand|expect|requesting|request)\s+(a\s+|my\s+|our\s+)?(full\s+)?refund\b",
        r"\brefund\s+(me|us|now|immediately)\b",
        r"\bwrong(ly)?\s+(charged|billed|invoiced|amount)\b",
        r"\bunauthori[sz]ed\s+(charge|payment)s?\b",
        r"\bbilled\s+(twice|incorrectly|wrongly)\b",
        r"\b(doppelt|zweimal)\s+(abgebucht|berechnet|belastet|abgerechnet)\b",
        r"\b(m(ö|oe)chte|will|wollen|verlange|fordere|fordern)\s+(\w+\s+){0,3}"
        r"r(ü|ue)ckerstattung\b",
        r"\b(falsche|fehlerhafte)\s+(rechnung|abbuchung)\b",
        r"\b(factur|d(é|e)bit|pr(é|e)lev)(é|e)e?s?\s+deux\s+fois\b",
        r"\bdouble\s+(d(é|e)bit|facturation|pr(é|e)l(è|e)vement)\b",
        r"\b(exige|exigeons|demande|demandons|veux|voudrais|voulons)\s+(un\s+|le\s+)?"
        r"remboursement\b",
        r"\bcobr(ado|aron|ó|o)\s+(\w+\s+){0,2}dos\s+veces\b",
        r"\bdoble\s+(cobro|cargo)\b",
        r"\b(quiero|exijo|exigimos|solicito|pido|queremos)\s+(un\s+|el\s+)?reembolso\b",
        r"\bcargos?\s+(no\s+autorizados?|duplicados?)\b",
    ],
    "security": [
        r"\b(security|data)\s+(breach|incident|leak)\b",
        r"\bbreached\b",
        r"\bhack(ed|er|ers)\b",
        r"\b(account|data|password|credentials?)\s+(was\s+|were\s+|is\s+|got\s+)?compromised\b",
        r"\bvulnerabilit(y|ies)\b",
        r"\bunauthori[sz]ed\s+(access|login|logins|user|users)\b",
        r"\bphishing\b",
        r"\bleaked\b",
        r"\bsuspicious\s+(login|logins|activity|sign-?ins?)\b",
        r"\bgehackt\b",
        r"\bdaten(leck|panne|diebstahl)\b",
        r"\bunbefugte[nrm]?\s+zugriff\w*\b",
        r"\bsicherheitsl(ü|ue)cke\b",
        r"\bkompromittiert\b",
        r"\bpirat(é|e)e?s?\b",
        r"\b(fuite|vol)\s+de\s+donn(é|e)es\b",
        r"\bacc(è|e)s\s+non\s+autoris(é|e)\b",
        r"\b(acc(é|e)d(é|e)|connect(é|e))\s+(\w+\s+){0,4}sans\s+autorisation\b",
        r"\bfaille\s+de\s+s(é|e)curit(é|e)\b",
        r"\bhackead[oa]s?\b",
        r"\b(fuga|robo)\s+de\s+datos\b",
        r"\bbrecha\s+de\s+(seguridad|datos)\b",
        r"\bacceso\s+no\s+autorizado\b",
        r"\bvulnerabilidad(es)?\b",
    ],
    "legal": [
        r"\blawyers?\b",
        r"\battorneys?\b",
        r"\blegal\s+(action|team|department|counsel|proceedings)\b",
        r"\blaw-?suits?\b",
        r"\bsue\b",
        r"\bsubpoenas?\b",
        r"\bin\s+court\b",
        r"\bbreach\s+of\s+contract\b",
        r"\bcease\s+and\s+desist\b",
        r"\bgdpr\b",
        r"\b(data\s+)?subject\s+access\s+request\b",
        r"\bdsars?\b",
        r"\bright\s+to\s+(be\s+forgotten|erasure)\b",
        r"\b(rechts)?anw(a|ä|ae)lt(in|e)?\b",
        r"\brechtliche\s+schritte\b",
        r"\b(verklagen|klage\s+einreichen)\b",
        r"\bgericht\b",
        r"\bvertragsbruch\b",
        r"\bdsgvo\b",
        r"\bauskunftsersuchen\b",
        r"\bavocats?\b",
        r"\bpoursuites?\s+judiciaires?\b",
        r"\baction\s+en\s+justice\b",
        r"\btribunal\b",
        r"\bmise\s+en\s+demeure\b",
        r"\brupture\s+de\s+contrat\b",
        r"\brgpd\b",
        r"\babogad[oa]s?\b",
        r"\bacciones?\s+legal(es)?\b",
        r"\bdemandar(les|los|nos)?\b",
        r"\btribunales\b",
        r"\bincumplimiento\s+(de(l)?\s+)?contrato\b",
    ],
}


class AskedForHumanTrigger(PatternTrigger):
    patterns: list[str] = Field(default_factory=lambda: list(ASKED_FOR_HUMAN))


class ChurnThreatTrigger(PatternTrigger):
    patterns: list[str] = Field(default_factory=lambda: list(CHURN_THREAT))


class SensitiveTopicTrigger(_Frozen):
    enabled: bool = True
    topics: dict[str, list[str]] = Field(default_factory=lambda: dict(SENSITIVE_TOPICS))

    @field_validator("topics")
    @classmethod
    def _valid(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for patterns in value.values():
            _compiled(patterns)
        return value


class NegativeSentimentTrigger(_Frozen):
    """Sentiment is VADER's compound score, -1 (very negative) to 1 (very positive)."""

    enabled: bool = True
    # One message at or below this hands off.
    threshold: float = Field(default=-0.55, ge=-1, le=1)
    # Or the average of the last `sustained_messages` customer messages at or below this.
    sustained_threshold: float = Field(default=-0.35, ge=-1, le=1)
    sustained_messages: int = Field(default=3, ge=2, le=20)


class RepeatedQuestionTrigger(_Frozen):
    enabled: bool = True
    # The same question (by embedding similarity, see [support.thresholds]) asked this many times.
    times: int = Field(default=3, ge=2, le=10)
    # How many earlier customer messages of this bot session are compared.
    window_messages: int = Field(default=10, ge=2, le=50)
    # Messages with fewer content words ("ok", "thanks") are never counted as questions.
    min_content_words: int = Field(default=2, ge=1, le=10)


class HighValueAccountTrigger(_Frozen):
    """High-value accounts: by company size, by domain, or the policy's strategic accounts.

    `immediate`: any message from such an account goes to a person at once. `on_struggle`: the
    bot still answers what it can, but the first sign of trouble (a miss, a second asking, any
    negative message) hands off, instead of waiting for the general thresholds.
    """

    enabled: bool = True
    mode: Literal["immediate", "on_struggle"] = "on_struggle"
    min_employees: int | None = Field(default=2000, ge=1)
    domains: list[str] = []
    include_target_accounts: bool = True
    struggle_sentiment: float = Field(default=-0.05, ge=-1, le=1)


class LowConfidenceTrigger(_Frozen):
    enabled: bool = True
    # The bot found nothing above the retrieval threshold this many times in a row.
    misses_in_a_row: int = Field(default=2, ge=1, le=10)


class Triggers(_Frozen):
    # When several fire on one message, the first in `priority` is recorded as the reason.
    priority: list[TriggerName] = Field(default_factory=lambda: list(TRIGGER_NAMES))
    asked_for_human: AskedForHumanTrigger = AskedForHumanTrigger()
    churn_threat: ChurnThreatTrigger = ChurnThreatTrigger()
    negative_sentiment: NegativeSentimentTrigger = NegativeSentimentTrigger()
    sensitive_topic: SensitiveTopicTrigger = SensitiveTopicTrigger()
    high_value_account: HighValueAccountTrigger = HighValueAccountTrigger()
    repeated_question: RepeatedQuestionTrigger = RepeatedQuestionTrigger()
    low_confidence: LowConfidenceTrigger = LowConfidenceTrigger()

    @field_validator("priority")
    @classmethod
    def _complete(cls, value: list[TriggerName]) -> list[TriggerName]:
        missing = [t for t in TRIGGER_NAMES if t not in value]
        if missing or len(set(value)) != len(value):
            raise ValueError("priority must name every trigger exactly once; missing: "
                             + ", ".join(missing))
        return value


class Thresholds(_Frozen):
    """Cosine similarities; each embedding space needs its own calibration."""

    kb_min_similarity: float = Field(ge=0, le=1)
    repeat_similarity: float = Field(ge=0, le=1)


DEFAULT_THRESHOLDS: dict[EmbeddingsMode, Thresholds] = {
    "local": Thresholds(kb_min_similarity=0.22, repeat_similarity=0.3),
    "openai": Thresholds(kb_min_similarity=0.35, repeat_similarity=0.7),
}


DEFAULT_CLAIM_ROLES: list[Role] = ["support", "manager"]


class SupportPolicy(_Frozen):
    # Told to the customer when a person is on the way.
    typical_wait_minutes: int = Field(default=5, ge=1, le=1440)
    # Unclaimed this long: the support lead is alerted and the customer told honestly.
    claim_timeout_minutes: float = Field(default=10, gt=0, le=10080)
    # Roster key (Slack id or email) of the support lead; default: the first support member.
    support_lead: str | None = None
    # Who may claim, resolve and hand back transfers.
    claim_roles: list[Role] = Field(default_factory=lambda: list(DEFAULT_CLAIM_ROLES))
    # Articles offered to the answerer per question.
    top_k: int = Field(default=3, ge=1, le=10)
    # Index the shipped sample knowledge base when the collection is empty.
    seed_sample_kb: bool = True
    max_message_chars: int = Field(default=4000, ge=100, le=20000)
    thresholds: dict[EmbeddingsMode, Thresholds] = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    triggers: Triggers = Triggers()

    @field_validator("thresholds", mode="before")
    @classmethod
    def _both_spaces(cls, value: object) -> object:
        # A policy may calibrate one embedding space; the other keeps its defaults.
        if isinstance(value, dict):
            return {**DEFAULT_THRESHOLDS, **value}
        return value

    def thresholds_for(self, mode: EmbeddingsMode) -> Thresholds:
        return self.thresholds[mode]


def parse_support_policy(table: dict, *, source: str = "policy") -> SupportPolicy:
    """Validate a `[support]` table; PolicyFileError names the file and the fields at fault."""
    try:
        return SupportPolicy.model_validate(table)
    except ValidationError as exc:
        lines = [f"  support.{'.'.join(str(p) for p in err['loc'])}: "
                 f"{err['msg'].removeprefix('Value error, ')}" for err in exc.errors()]
        raise PolicyFileError(f"{source}: invalid\n" + "\n".join(lines)) from None


def load_support_policy(path: Path) -> SupportPolicy:
    """The `[support]` table of the policy file at `path` (defaults when there is none)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise PolicyFileError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"{path}: not valid TOML ({exc})") from None
    table = data.get("support") or {}
    if not isinstance(table, dict):
        raise PolicyFileError(f"{path}: invalid\n  support: must be a table")
    return parse_support_policy(table, source=str(path))
