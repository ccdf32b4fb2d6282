"""Customer sentiment, offline: VADER (a lexicon and rule-based scorer that handles negation,
intensifiers, capitals and "!!!"), with a few support-specific words it does not know, and
the commonest anger words of German, French and Spanish (VADER's own lexicon is English).

`score()` is VADER's compound score, -1 (very negative) to 1 (very positive). The analyzer is
built on first use, not at import.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# VADER's lexicon is tuned on social media; these support words carry weight there too.
# Valences are on VADER's -4..4 scale.
SUPPORT_LEXICON: dict[str, float] = {
    "unusable": -2.5, "broken": -2.0, "nightmare": -2.7, "joke": -1.5, "ridiculous": -2.2,
    "unacceptable": -2.6, "fed up": -2.4, "rip-off": -2.8, "ripoff": -2.8, "scam": -2.8,
    "incompetent": -2.6, "waste": -2.0, "wasted": -2.0, "garbage": -2.5, "furious": -3.0,
    "outrageous": -2.6, "pathetic": -2.7, "sucks": -2.0, "infuriating": -2.9, "worthless": -2.7,
    "buggy": -1.8, "downtime": -1.2, "outage": -1.5, "again": -0.3, "still": -0.3,
}
# VADER only knows English: the commonest anger and frustration words of German, French and
# Spanish customers (issue 18), on the same scale, lower case as VADER looks them up.
OTHER_LANGUAGES_LEXICON: dict[str, float] = {
    # German
    "verärgert": -2.5, "wütend": -3.0, "sauer": -2.0, "frustriert": -2.3, "enttäuscht": -2.0,
    "unverschämt": -2.7, "inakzeptabel": -2.6, "katastrophe": -2.7, "katastrophal": -2.8,
    "ärgerlich": -2.0, "nervig": -1.8, "schrecklich": -2.5, "lächerlich": -2.2,
    "nichts": -0.8, "abbricht": -1.0, "kaputt": -2.0, "unbrauchbar": -2.5, "frechheit": -2.7,
    # French
    "furieux": -3.0, "furieuse": -3.0, "inadmissible": -2.6, "inacceptable": -2.6,
    "scandaleux": -2.7, "scandaleuse": -2.7, "honteux": -2.5, "nul": -2.0, "nulle": -2.0,
    "énervé": -2.2, "énervée": -2.2, "déçu": -2.0, "déçue": -2.0, "marre": -2.4,
    "lamentable": -2.6, "inutilisable": -2.5, "catastrophique": -2.8, "exaspéré": -2.6,
    "exaspérée": -2.6, "agacé": -1.8, "agacée": -1.8,
    # Spanish
    "furioso": -3.0, "furiosa": -3.0, "inaceptable": -2.6, "indignante": -2.7,
    "vergüenza": -2.3, "harto": -2.4, "harta": -2.4, "enfadado": -2.3, "enfadada": -2.3,
    "decepcionado": -2.0, "decepcionada": -2.0, "pésimo": -2.8, "pésima": -2.8,
    "desastre": -2.7, "inútil": -2.5, "molesto": -1.8, "molesta": -1.8, "fatal": -2.3,
}
Trend = Literal["falling", "rising", "steady", "n/a"]
TREND_DELTA = 0.2


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(SUPPORT_LEXICON)
    analyzer.lexicon.update(OTHER_LANGUAGES_LEXICON)
    return analyzer


def score(text: str) -> float:
    """VADER compound score of `text`, rounded to 3 places (-1..1; 0 for empty text)."""
    if not text or not text.strip():
        return 0.0
    return round(float(_analyzer().polarity_scores(text)["compound"]), 3)


def trend(history: list[float]) -> Trend:
    """Falling / rising when the latest message is TREND_DELTA below / above the session's first
    ones (the mean of the earlier messages), else steady."""
    if len(history) < 2:
        return "n/a"
    earlier = sum(history[:-1]) / len(history[:-1])
    delta = history[-1] - earlier
    if delta <= -TREND_DELTA:
        return "falling"
    if delta >= TREND_DELTA:
        return "rising"
    return "steady"
