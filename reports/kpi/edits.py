"""Learning from edits: approved-after-edit pairs, how far reps moved the text, and what they
change most often.

A pair is a draft (the approval's subject and body) and what the rep sent instead (the `edit`
decision's subject and body), read by `service.edit_pairs.load_edit_pairs`. Before patterns are
counted, the text is redacted the way style examples are (`agent.privacy.redact_for_style`): the
lead's name, company, email and domain and the rep's name by label, then every other name,
number, address, link and quotation by type. So "Hi Ada" -> "Dear Ada" and "Hi Ben" -> "Dear
Ben" count as one pattern ("hi ‹first_name›" -> "dear ‹first_name›"), and the report carries no
lead's personal data, not even what a rep typed in.
"""

from __future__ import annotations

import difflib
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from agent.edit_pairs import EditPair
from agent.privacy import redact_for_style
from agent.stats import percentile

_EDGE_PUNCT = re.compile(r"^[^\w‹]+|[^\w›]+$")
MAX_PHRASE_WORDS = 8


def _words(text: str) -> list[str]:
    return text.split()


def word_edit_distance(before: str, after: str) -> int:
    """Words inserted, deleted or replaced to turn `before` into `after` (Levenshtein on words)."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(_words(before), _words(after)))


def normalized_edit_distance(before: str, after: str) -> float:
    """0 (untouched) .. 1 (rewritten), on words."""
    from rapidfuzz.distance import Levenshtein

    return float(Levenshtein.normalized_distance(_words(before), _words(after)))


def _phrase(words: Sequence[str]) -> str:
    return _EDGE_PUNCT.sub("", " ".join(words).strip().lower())


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def _cta(body: str) -> str:
    questions = [s.strip() for s in re.split(r"(?<=[.!?])\s+", body) if s.strip().endswith("?")]
    return questions[-1] if questions else ""


def categorise(pair: EditPair) -> list[str]:
    """Kinds of change a manager recognises: shortened, greeting changed, call to action..."""
    kinds: list[str] = []
    before, after = _words(pair.draft_body), _words(pair.sent_body)
    if before and len(after) < 0.8 * len(before):
        kinds.append("shortened")
    elif before and len(after) > 1.2 * len(before):
        kinds.append("lengthened")
    if pair.draft_subject.strip() != pair.sent_subject.strip():
        kinds.append("subject rewritten")
    old_lines, new_lines = _lines(pair.draft_body), _lines(pair.sent_body)
    if old_lines[:1] != new_lines[:1]:
        kinds.append("greeting changed")
    if old_lines[-2:] != new_lines[-2:]:
        kinds.append("sign-off changed")
    if _cta(pair.draft_body) != _cta(pair.sent_body):
        kinds.append("call to action changed")
    distance = normalized_edit_distance(pair.draft_text, pair.sent_text)
    if distance >= 0.6:
        kinds.append("mostly rewritten")
    elif distance <= 0.1:
        kinds.append("light touch (≤10% of words)")
    return kinds


def redacted(text: str, names: Sequence[tuple[str, str]]) -> str:
    """`text` as a report may show it: the pair's names by label, everything else personal
    by type (see `agent.privacy.redact_for_style`)."""
    return redact_for_style(text, known=names)


def phrase_changes(pair: EditPair) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(removed phrases, added phrases, replaced (old, new)) on redacted words."""
    old = _words(redacted(pair.draft_body, pair.names))
    new = _words(redacted(pair.sent_body, pair.names))
    removed: list[str] = []
    added: list[str] = []
    replaced: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        before, after = old[i1:i2], new[j1:j2]
        if len(before) > MAX_PHRASE_WORDS or len(after) > MAX_PHRASE_WORDS:
            # A rewritten paragraph is not a "pattern"; keep only its start for context.
            before, after = before[:MAX_PHRASE_WORDS], after[:MAX_PHRASE_WORDS]
        if op == "delete" and _phrase(before):
            removed.append(_phrase(before))
        elif op == "insert" and _phrase(after):
            added.append(_phrase(after))
        elif op == "replace":
            a, b = _phrase(before), _phrase(after)
            if a != b:
                replaced.append((a, b))
    return removed, added, replaced


def edit_summary(pairs: Sequence[EditPair], *, top: int = 10) -> dict[str, Any]:
    """Distances, the most common kinds of change and phrases, and a few redacted examples."""
    if not pairs:
        return {"pairs": 0}
    distances = [word_edit_distance(p.draft_text, p.sent_text) for p in pairs]
    normalized = [normalized_edit_distance(p.draft_text, p.sent_text) for p in pairs]
    kinds: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    added: Counter[str] = Counter()
    replaced: Counter[tuple[str, str]] = Counter()
    for pair in pairs:
        kinds.update(categorise(pair))
        r, a, x = phrase_changes(pair)
        removed.update(set(r))
        added.update(set(a))
        replaced.update(set(x))
    by_size = sorted(zip(normalized, pairs, strict=True), key=lambda t: -t[0])
    examples: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for share, pair in by_size:
        draft, sent = redacted(pair.draft_text, pair.names), redacted(pair.sent_text, pair.names)
        if (draft, sent) in seen:
            continue  # the same edit on another lead says nothing new
        seen.add((draft, sent))
        examples.append({"draft": draft, "sent": sent,
                         "words_changed": word_edit_distance(pair.draft_text, pair.sent_text),
                         "share_changed": round(share, 3)})
        if len(examples) == 3:
            break
    return {
        "pairs": len(pairs),
        "words_changed": {"mean": round(statistics.fmean(distances), 1),
                          "p50": percentile(distances, 0.5), "p90": percentile(distances, 0.9)},
        "share_changed": {"mean": round(statistics.fmean(normalized), 3),
                          "p50": percentile(normalized, 0.5),
                          "p90": percentile(normalized, 0.9)},
        "kinds": [{"kind": k, "pairs": n, "share": round(n / len(pairs), 3)}
                  for k, n in kinds.most_common()],
        "removed": [{"phrase": k, "pairs": n} for k, n in removed.most_common(top)],
        "added": [{"phrase": k, "pairs": n} for k, n in added.most_common(top)],
        "replaced": [{"before": a, "after": b, "pairs": n}
                     for (a, b), n in replaced.most_common(top)],
        "examples": examples,
    }
