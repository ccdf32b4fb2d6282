"""The lexicon's word lookup (`WordTable.name`) gives, for any word, the name of the first
listed entry that covers it, as a test of every entry in the file's order would: the dict
lookups that replaced that scan must not change a single reading."""

from __future__ import annotations

import random

from agent.support.paraphrase import WordTable, _covers, lexicon


def _scan(table: WordTable, word: str) -> str | None:
    """The rule as written: every entry tested, the first that covers the word wins."""
    return next((name for listed, name in table.entries if _covers(listed, word)), None)


def _words_around(listed: str, rng: random.Random) -> list[str]:
    """The listed word, each of its beginnings, and longer words that begin with it."""
    longer = [listed + "".join(rng.choices("aeinrst", k=k)) for k in (1, 2, 5, 3000)]
    return [listed[:end] for end in range(1, len(listed) + 1)] + longer


def test_every_word_near_a_listed_one_gets_the_scans_name() -> None:
    rng = random.Random(7)
    lex = lexicon()
    checked = 0
    for table in (lex.actions, lex.topics):
        for listed, _ in table.entries:
            for word in _words_around(listed, rng):
                assert table.name(word) == _scan(table, word), word
                checked += 1
    assert checked > 1000  # the shipped lexicon, not an empty one


def test_the_first_entry_in_file_order_wins_when_several_cover_a_word() -> None:
    table = WordTable((("export", "export"), ("exportable", "download"), ("expo", "event")))
    assert table.name("exportable") == "export"     # "export" (5+ letters) begins it: first
    assert table.name("exportab") == "export"
    assert table.name("expo") == "event"            # too short to be a prefix of others
    assert table.name("exporta") == "export"
    assert WordTable((("exportable", "download"), ("export", "export"))).name(
        "exportable") == "download"
    assert table.name("import") is None
    # A word of more than _PREFIX_MIN letters that begins a listed one is covered by it.
    assert WordTable((("passwort", "password"),)).name("passwo") == "password"
    assert WordTable((("passwort", "password"),)).name("passw") is None
