"""Personal data in free text: finding it, and taking it out of text that outlives its lead.

Two users. The style examples a drafter imitates (`tools/style_examples.py`) keep a rep's
wording but none of another lead's content (`redact_for_style`). The pre-send check
(`agent.guardrails.content_blocks`) finds other people, addresses and links in a draft.

Everything here is pure and bounded. Text is normalised first (`normalize`: NFKC, invisible
format characters removed), so full-width letters, zero-width joiners and similar disguises are
seen the way a mail client shows them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import urlsplit

# A draft is at most 2,000 characters, an edit a little more: never scan more than this.
MAX_SCAN_CHARS = 20_000

# Bumped whenever `redact_for_style` changes what it removes: stored style examples made by an
# older version are re-made (and never served) once the version differs.
REDACTION_VERSION = "r1"

EMAIL = re.compile(r"[\w.%+'-]+@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}")
# A link with a scheme, or starting with www.: everything up to whitespace or a bracket.
URL = re.compile(r"(?i)(?<![\w.-])(?:[a-z][a-z0-9+.-]{1,20}://|www\.)[^\s<>\"'`\[\]{}|^]+")
# A bare domain (mail clients link `evil.example/x` too): labels, a dot, a top-level domain.
BARE_DOMAIN = re.compile(
    r"(?<![\w@.-])((?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,24}|xn--[a-z0-9-]{1,59}))"
    r"(?![\w@-])(/[^\s<>\"'`]*)?")
# Top-level domains a bare word.word is taken as a link for. Country codes count only when
# written in lower case ("Inc.So" is a typo, "evil.so" is a link); other endings ("report.pdf",
# "Node.js") are not links.
_GENERIC_TLDS = frozenset("""
com net org edu gov mil int info biz name pro io ai app dev co me tv cc ly gl to xyz top site
online link click live shop store tech cloud email page web website blog news one zip mov
example test invalid local localhost onion wiki agency digital solutions services company
""".split())
_COUNTRY_TLDS = frozenset("""
ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt
bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er
es et eu fi fj fk fm fo fr ga gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht
hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr
ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng
ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd
se sg sh si sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw
tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw
""".split())

# Words a business email capitalises that name nobody: sentence starters, greetings and
# sign-offs, days, months, common business terms. Any other capitalised word in a style example
# is taken for a name (a person, a company, a place) and replaced. Over-redaction costs a little
# style; under-redaction would leak another lead's content.
COMMON_WORDS = frozenset("""
a an the and or but nor so yet for if then than because since as while although though unless
until after before once about above across against along among around at by down during except
from in inside into like near of off on onto out outside over past per through throughout to
toward towards under up upon via with within without not no yes ok okay
i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his she
her hers it its they them their theirs this that these those who whom whose which what when
where why how all any both each every few many much more most other another such own same some
none either neither one two three
am is are was were be been being have has had having do does did doing will would shall should
can could may might must ought let lets get got gets getting make made go going went come coming
hi hello hey dear greetings thanks thank thx cheers best regards warm warmly kind kindly
sincerely yours cordially respectfully welcome congrats congratulations apologies sorry please
also just only really quite very still even again already always never sometimes often soon now
today tomorrow yesterday tonight here there perhaps maybe however therefore meanwhile anyway
otherwise instead actually certainly definitely hopefully happy glad great good nice sure
absolutely thanks excellent wonderful fantastic quick quickly briefly finally first second next
last following attached below above earlier later note
looking look looks hope hoping want wanted wants wanting thought thinking saw noticed seen see
appreciate appreciated enjoy enjoyed loved love feel free reply replying respond send sending
sent share sharing book booking schedule scheduling grab talk chat call calling meet meeting
join joining confirm confirming reaching reach reached circling circle checking check following
follow followed just wanted wondering would love happy excited pleased curious given since
based thanks again ps p.s re fw fwd fyi btw asap eod eow
monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat
sun january february march april may june july august september october november december jan
feb mar apr jun jul aug sep sept oct nov dec morning afternoon evening week weekend month
quarter year day days weeks months noon midnight am pm est edt pst pdt cet cest gmt utc bst
demo demos pricing price prices plan plans trial trials webinar webinars agenda proposal contract
invoice quote discount roi api apis crm erp saas sso saml sla slas gdpr soc hipaa iso ceo cto
cfo coo cmo cro cio ciso vp svp evp director directors head manager managers founder cofounder
president chief officer team teams sales marketing ops operations engineering product products
support customer customers success finance legal it hr q qa faq pdf csv url email emails
newsletter case study studies playbook guide report whitepaper ebook blog webinar event events
conference summit workshop onboarding rollout integration integrations dashboard platform
account accounts workflow workflows pipeline renewal pilot partner partners partnership
mr mrs ms dr prof sir madam
""".split())

_WORD = re.compile(r"(?<![‹\w'’])[^\W\d_][\w'’.-]*")
_NUMBER = re.compile(r"[+(]?\w*\d\w*(?:[ \t().:/+,-]{1,3}\w*\d\w*)*\)?")
_QUOTES = re.compile(r"\"[^\"\n]{1,400}\"|“[^”\n]{1,400}”|„[^“”\n]{1,400}[“”]|«[^»\n]{1,400}»"
                     r"|‘[^’\n]{1,400}’(?!\w)")
_QUOTED_LINE = re.compile(r"(?m)^[ \t]*>.*$")
_SPACES = re.compile(r"\s+")
_CONTRACTION = re.compile(r"['’](?:s|ll|re|ve|d|m|t)$")


def normalize(text: str, *, invisible: str = "") -> str:
    """NFKC (full-width and compatibility forms become plain letters), format characters
    (zero-width spaces and joiners, bidi controls) replaced by `invisible` (removed: what a
    reader sees), at most `MAX_SCAN_CHARS` read."""
    text = text[:MAX_SCAN_CHARS]
    if text.isascii():  # NFKC leaves ASCII alone and it holds no format characters
        return text
    text = unicodedata.normalize("NFKC", text)
    return "".join(invisible if ch >= "\x80" and unicodedata.category(ch) == "Cf" else ch
                   for ch in text)


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """The matching form of a name: normalised, case-folded, whitespace collapsed."""
    return _SPACES.sub(" ", normalize(text).casefold()).strip()


@lru_cache(maxsize=4096)
def is_common_word(word: str) -> bool:
    """Whether `word` (any case) is in the list of words that name nobody."""
    base = _CONTRACTION.sub("", word.casefold()).strip(".'’-")
    if len(base) <= 1 or base in COMMON_WORDS:
        return True
    parts = [p for p in re.split(r"[-.'’]", base) if p]
    return bool(parts) and all(len(p) <= 1 or p in COMMON_WORDS for p in parts)


@lru_cache(maxsize=4096)
def whole_word(value: str) -> re.Pattern[str]:
    """A case-insensitive pattern for `value` as whole words (any run of spaces between)."""
    words = [re.escape(w) for w in value.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def domain_of_link(link: str) -> str | None:
    """The host a link points to, lower case, IDNA-encoded when it can be; None if unreadable.
    `user@host` tricks and backslashes are read the way a browser reads them."""
    candidate = link.replace("\\", "/")
    if not re.match(r"(?i)[a-z][a-z0-9+.-]*://", candidate):
        candidate = "http://" + candidate
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    return normalize_domain(host) if host else None


def normalize_domain(host: str) -> str:
    """`host` as compared with an allow-list: lower case, no trailing dot, IDNA when possible."""
    host = normalize(host).strip().rstrip(".").casefold()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def domain_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether `host` is one of `allowed` or a subdomain of one."""
    host = normalize_domain(host)
    for domain in allowed:
        domain = normalize_domain(domain)
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def bare_domains(text: str) -> list[tuple[str, str, bool]]:
    """(domain, matched text, has_path) for every bare `name.tld[/path]` taken for a link."""
    found = []
    for match in BARE_DOMAIN.finditer(text):
        domain = match.group(1)
        tld = domain.rsplit(".", 1)[-1]
        folded_tld = tld.casefold()
        generic = folded_tld.startswith("xn--") or folded_tld in _GENERIC_TLDS
        country = tld in _COUNTRY_TLDS  # lower case only, see above
        if not (generic or country):
            continue
        found.append((normalize_domain(domain), match.group(0), bool(match.group(2))))
    return found


def _replace_known(text: str, known: Sequence[tuple[str, str]]) -> str:
    pairs = [(label, " ".join(normalize(value).split())) for label, value in known]
    for label, value in sorted(pairs, key=lambda kv: -len(kv[1])):
        if len(value) < 2 or "@" in value:
            continue
        # Not inside a placeholder already written: a rep called "Rep" must not eat "‹rep›".
        words = r"\s+".join(re.escape(w) for w in value.split())
        pattern = re.compile(rf"(?<![\w‹]){words}(?![\w›])", re.IGNORECASE)
        text = pattern.sub(f"‹{label}›", text)
    return text


def _merge(text: str) -> str:
    # "‹name› ‹name›" was one name; "+‹number› (‹number›) ‹number›" one number.
    text = re.sub(r"‹name›(?:[ \t-]+‹name›)+", "‹name›", text)
    return re.sub(r"[+(]?‹number›(?:[ \t().:/+,-]{1,3}‹number›)+\)?", "‹number›", text)


def redact_for_style(text: str, *, known: Sequence[tuple[str, str]] = ()) -> str:
    """`text` with every detail that could identify someone replaced by a typed placeholder,
    keeping its shape (greeting, paragraphs, sign-off, length, tone words).

    Email addresses (`‹email›`) and links and domains (`‹url›`) go first; then `known`,
    (label, value) pairs such as the lead's and rep's names (`‹first_name›`, `‹company›`,
    `‹rep›` ...); then quoted text and quoted reply
    lines (`‹quote›`), anything with a digit (`‹number›`: amounts, dates, phone numbers, account
    ids, street numbers), and every capitalised or caseless word that is not a common word
    (`‹name›`: people, companies, places, products).
    """
    text = normalize(text)
    # Addresses and links first: a name inside one ("ada@acme.io") must not half-survive.
    text = EMAIL.sub("‹email›", text)
    text = URL.sub("‹url›", text)
    for _, matched, _ in bare_domains(text):
        text = text.replace(matched, "‹url›")
    text = _replace_known(text, known)
    text = _QUOTED_LINE.sub("> ‹quote›", text)
    text = _QUOTES.sub("‹quote›", text)
    text = _NUMBER.sub("‹number›", text)

    def name_or_word(match: re.Match[str]) -> str:
        word = match.group(0)
        trail = ""
        while word and word[-1] in ".-'’":  # sentence punctuation, not part of the word
            word, trail = word[:-1], word[-1] + trail
        first = word[:1]
        if not word or first.islower() or is_common_word(word):
            return match.group(0)
        return "‹name›" + trail

    text = _WORD.sub(name_or_word, text)
    return _merge(text)
