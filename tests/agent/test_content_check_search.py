"""The content check's search of other records as a draft runs it: one statement (leads and
support contacts, service/content_check.py `_candidate_search`) served by the four key indexes,
and keys that are exactly what the text's forms allow (`_candidate_keys`, which reads only the
stretches of a form with its whitespace as written that reach other whitespace than one
space), checked against a position-by-position reading of the rule."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from store.db import Database
from tests.agent.query_plans import query_plan

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TEXT = "Hi Ada,\n\nOttoline Vexbridge at Vexbridge Holdings says hi.\n\nBest,\nRiley"


def _fill(db: Database, leads: int) -> None:
    from store.tables import Lead, SupportConversation

    with db.session() as session:
        session.execute(insert(Lead), [
            {"id": f"lead{i}", "email": f"p{i}@x{i}.io", "first_name": f"Ottoline{i}",
             "last_name": f"Surname{i}", "company": f"Vexbridge{i} Holdings", "stage": "new",
             "disqualifiers": [], "created_at": NOW, "updated_at": NOW} for i in range(leads)])
        session.execute(insert(SupportConversation), [
            {"id": f"conv{i}", "customer_email": f"c{i}@support-{i}.io",
             "customer_name": f"Riley Contact{i}", "status": "bot", "epoch": 1,
             "created_at": NOW, "updated_at": NOW} for i in range(leads // 10)])


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_the_one_statement_a_draft_runs_uses_the_four_key_indexes(store: Database) -> None:
    from service.name_search import (
        _candidate_keys,
        _candidate_search,
        _haystack,
        _keys_parameter,
    )

    _fill(store, 200)
    with store.read() as session:
        conn = session.connection()
        dialect = conn.dialect.name
        params = {"keys": _keys_parameter(dialect, _candidate_keys(TEXT)),
                  "haystack": _haystack(TEXT), "lead_id": "lead0", "lead_email": "p0@x0.io",
                  "own_first_name": "Ada", "own_last_name": "Lovelace", "own_company": "Acme"}
        for own_email in (True, False):
            plan = query_plan(conn, _candidate_search(dialect, own_email), params)
            for index in ("ix_leads_first_name_key", "ix_leads_last_name_key",
                          "ix_leads_company_key", "ix_support_conversations_customer_name_key"):
                assert index in plan, plan
            assert "SCAN leads" not in plan and "SCAN support_conversations" not in plan, plan
            assert "Seq Scan" not in plan, plan


def _reference_keys(text: str) -> set[str]:
    """`_candidate_keys`' rule read at every position of every form: a name starts on a
    non-space not after a word character and ends on a non-space not before one; keys are the
    stretches from a start to an end of 2 to NAME_KEY_CHARS characters and the stretch of that
    length (2 at least) from every start; in a form with its whitespace as written, only from
    the starts with the start of other whitespace than one space in reach."""
    from service.name_search import _ODD_SPACE, _forms
    from store.tables.base import NAME_KEY_CHARS as N

    def word(ch: str) -> bool:
        return bool(re.match(r"\w", ch))

    keys: set[str] = set()
    for form, as_written in _forms(text):
        n = len(form)
        odd = {m.start() for m in _ODD_SPACE.finditer(form)}
        ends = {e for e in range(1, n + 1)
                if not form[e - 1].isspace() and (e == n or not word(form[e]))}
        for s in range(n):
            if form[s].isspace() or (s and word(form[s - 1])):
                continue
            if as_written and not odd & set(range(s, s + N)):
                continue
            keys.update(form[s:e] for e in range(s + 2, s + N + 1) if e in ends)
            if len(form[s:s + N]) >= 2:
                keys.add(form[s:s + N])
    return keys


def test_keys_are_the_rule_read_at_every_position() -> None:
    from service.name_search import _candidate_keys

    rnd = random.Random(23)
    pieces = [*"abcXYZ19_-'.,(?!)", " ", " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u00a0",
              "\u200b", "Ö", "ß", "İ", "K", "Ada", "Vexbridge", "Holdings", "Ölander"]
    texts = ["", "a", "ab", " a", TEXT, TEXT.replace("\n\n", " \n \t "),
             "Hi Ada,\n\nThanks for your recent form submit. Teams like Cpu r1 4 usually "
             "reach out when they want to see how the workflow fits.\n\nBest,\nRiley Rep"]
    texts += ["".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 30)))
              for _ in range(1500)]
    for text in texts:
        keys = _candidate_keys(text)
        assert len(keys) == len(set(keys)), text
        assert set(keys) == _reference_keys(text), repr(text)


def test_the_keys_parameter_is_read_back_as_the_keys() -> None:
    from service.name_search import _candidate_keys, _keys_parameter

    keys = _candidate_keys('Hi "Ada" \\ O\'Brien,\nÖlander & Søn {x}')
    assert json.loads(_keys_parameter("sqlite", keys)) == keys
