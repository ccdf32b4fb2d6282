"""The content check's search of other records is an index lookup, not a scan of every lead:
keys derived from the draft's text (service/name_search.py `_candidate_keys`) are looked up in
the indexes on the names' keys (store.tables.base.name_key, migrations 0017 and 0019). What it
finds is what a check against every record would find: compared here with the pure check run over
all 5,000 leads and their support contacts, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, update

from agent.guardrails import LeadIdentity, foreign_names
from bench.name_search import counted_search
from store.db import Database
from tests.agent.query_plans import query_plan

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ADA = LeadIdentity(email="p0@x0.io", first_name="Ada", last_name="Lovelace", company="Acme")
TEXT = "Hi Ada,\n\nOttoline Vexbridge at Vexbridge Holdings says hi.\n\nBest,\nRiley"
FIRST = ["Ottoline", "Marcus", "Priya", "Jonas", "Søren", "Kwame", "Will", "Li", "Grace",
         "Hiroshi", "Amara", "Lukas", "Ölander", "Jean-Luc", "O'Brien", "Best"]
COMPANY_WORDS = ["Vex", "Bright", "North", "Blue", "Iron", "Lumen", "Quartz", "Harbor"]
# Names with punctuation, LIKE wildcards, non-ASCII letters, more words than a key holds.
ODD_COMPANIES = ["Ölander & Søn", "50%_off\\ Labs", "Acme, Inc.", "(Parens) Co", "A.B.C.",
                 "The Very Long Company Name Of Northern Harbor Logistics", "Straße Werke",
                 "evil-exfil.example", "Blue Harbor", "Two  Spaces Ltd", "Line\nBreak Co"]


# Ada's own company as colleagues' records write it (a lead's company is one of its names).
COLLEAGUES_COMPANY = ["Acme", "ACME"]


def _lead(i: int, first: str | None, last: str | None, company: str | None) -> dict[str, Any]:
    return {"id": f"lead{i}", "email": f"p{i}@x{i}.io", "first_name": first, "last_name": last,
            "company": company, "stage": "new", "disqualifiers": [], "created_at": NOW,
            "updated_at": NOW}


def _fill(db: Database, leads: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`leads` leads and a tenth as many support contacts, inserted in bulk."""
    from store.tables import Lead, SupportConversation

    rnd = random.Random(17)
    rows = [_lead(0, "Ada", "Lovelace", "Acme")]
    for i in range(1, leads):
        company = (ODD_COMPANIES[i % len(ODD_COMPANIES)] if i % 50 == 0
                   else COLLEAGUES_COMPANY[i % 2] if i % 25 == 0  # Ada's colleagues
                   else f"{rnd.choice(COMPANY_WORDS)}{i} {rnd.choice(['Holdings', 'Labs', 'AG'])}")
        rows.append(_lead(i, f"{rnd.choice(FIRST)}{i % 40 or ''}", f"Surname{i}", company))
    contacts = [{"id": f"conv{i}", "customer_email": f"c{i}@support-{i}.io",
                 "customer_name": f"{rnd.choice(FIRST)} Contact{i}", "status": "bot",
                 "epoch": 1, "created_at": NOW, "updated_at": NOW}
                for i in range(leads // 10)]
    contacts.append({**contacts[0], "id": "conv-own", "customer_email": "p0@x0.io",
                     "customer_name": "Ada Support-Self"})
    with db.session() as session:
        session.execute(insert(Lead), rows)
        session.execute(insert(SupportConversation), contacts)
        session.execute(update(Lead).where(Lead.id == "lead100").values(erased_at=NOW))
    return rows, contacts


def _every_record(rows: list[dict[str, Any]], contacts: list[dict[str, Any]]) -> list[str]:
    """What the check would search without an index: every other live record's names."""
    names: list[str] = []
    for row in rows:
        if row["id"] in ("lead0", "lead100"):  # the lead's own record, an erased one
            continue
        first, last = row["first_name"], row["last_name"]
        names += [v for v in (" ".join(p for p in (first, last) if p), first, last,
                              row["company"]) if v]
    for contact in contacts:
        if contact["customer_email"] != "p0@x0.io":
            names += [contact["customer_name"], *contact["customer_name"].split()]
    return names


def _mention(rnd: random.Random, value: str) -> str:
    """`value` as a draft might write it: capitalised another way, in punctuation, its words
    broken over lines, or not quite (a longer word: no mention)."""
    if rnd.random() < 0.3:
        value = rnd.choice([value.upper(), value.lower()])
    if rnd.random() < 0.2 and not re.search(r"\s\s|[^\S ]", value):
        # (A name stored with other whitespace between its words than one space is found
        # where the text writes it alike, as the drafts below do.)
        value = value.replace(" ", "\n", 1)
    if rnd.random() < 0.15:
        value += "s"
    return rnd.choice(["{}", "({})", "“{}”", "{},", "{}.", "{}'s", "-{}-"]).format(value)


def _drafts(rows: list[dict[str, Any]], contacts: list[dict[str, Any]]) -> list[str]:
    rnd = random.Random(5)
    filler = ("thanks for the demo request from Acme we can walk you through pricing "
              "best regards will follow up next week").split()
    drafts = []
    for _ in range(60):
        words = rnd.sample(filler, 8)
        for _ in range(rnd.randint(0, 3)):
            row = rnd.choice(rows)
            value = rnd.choice([v for v in (row["first_name"], row["last_name"],
                                            row["company"]) if v])
            if rnd.random() < 0.2:
                value = rnd.choice(contacts)["customer_name"]
            words.insert(rnd.randrange(len(words) + 1), _mention(rnd, value))
        drafts.append("Hi Ada,\n\n" + " ".join(words) + "\n\nBest,\nRiley")
    drafts += [f"Hi Ada, {c} says hi." for c in ODD_COMPANIES]
    drafts += ["Hi Ada, ÖLANDER & SØN say hi.", "Hi Ada, the very long company name of "
               "northern harbor\nlogistics called", "Hi Ada, the very long company name of "
               "northern harbor", "Hi Ada, Ada Support-Self and Ottoline1 and Surname100",
               'Hi Ada, "50%_off\\ Labs" and "Acme, Inc." said {"x": "\\"}']
    return drafts


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_the_lookup_finds_what_a_search_of_every_record_finds(store: Database) -> None:
    from service.name_search import other_people

    rows, contacts = _fill(store, 5_000)
    everyone = _every_record(rows, contacts)
    mentioned = 0
    with store.read() as session:
        for text in _drafts(rows, contacts):
            expected = foreign_names(text, lead=ADA, other_people=everyone)
            found = other_people(session, "lead0", ADA, text)
            assert set(foreign_names(text, lead=ADA, other_people=found)) == set(expected), text
            mentioned += bool(expected)
        # The lead's own record, her own support conversation and an erased lead are nobody.
        own = other_people(session, "lead0", ADA, "Ada Lovelace, Acme, Ada Support-Self")
        assert not {"Ada", "Lovelace", "Acme", "Ada Support-Self"} & set(own)
        assert "Surname100" not in other_people(session, "lead0", ADA, "Surname100")
        assert "Surname101" in other_people(session, "lead0", ADA, "Surname101!")
        # Naming her own company reads none of the 400 colleagues' records there; naming a
        # colleague finds him.
        assert other_people(session, "lead0", ADA, "Hi Ada, everyone at Acme says hi") == []
        colleague = next(r for r in rows if r["company"] == "ACME")
        found = other_people(session, "lead0", ADA, f"Acme's {colleague['last_name']} says hi")
        assert colleague["last_name"] in found and "ACME" in found
    assert mentioned > 40  # the drafts do name other people


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_the_searches_use_indexes_not_scans(store: Database) -> None:
    from service.leads import _PENDING_BY_ASSIGNEE
    from service.name_search import _candidate_keys, _candidate_queries, _haystack

    _fill(store, 200)
    with store.read() as session:
        conn = session.connection()
        postgres = conn.dialect.name == "postgresql"
        keys = _candidate_keys(TEXT)
        params = {"keys": keys if postgres else json.dumps(keys), "haystack": _haystack(TEXT),
                  "lead_id": "lead0", "lead_email": "p0@x0.io", "own_first_name": "Ada",
                  "own_last_name": "Lovelace", "own_company": "Acme"}
        leads, contacts, not_own = _candidate_queries(conn.dialect.name)
        plan = query_plan(conn, leads, params)
        for index in ("ix_leads_first_name_key", "ix_leads_last_name_key",
                      "ix_leads_company_key"):
            assert index in plan, plan
        for statement in (contacts, not_own):
            plan = query_plan(conn, statement, params)
            assert "ix_support_conversations_customer_name_key" in plan, plan
        # Routing's count of pending approvals per assignee reads the index alone.
        plan = query_plan(conn, _PENDING_BY_ASSIGNEE, {})
        assert "ix_approvals_status_assignee" in plan, plan
        if not postgres:
            assert "USING COVERING INDEX ix_approvals_status_assignee" in plan, plan
        full = "\n".join(query_plan(conn, s, params) for s in (leads, contacts, not_own))
        assert "SCAN leads" not in full and "SCAN support_conversations" not in full, full
        assert "Seq Scan" not in full, full


def test_the_lead_s_own_names_cost_the_search_nothing(store: Database) -> None:
    """Records holding exactly one of the lead's own names are never another person (the
    search excludes them), so their keys are not looked up: a surname the store shares with
    thousands of leads costs a draft naming it no more than a rare one. Counted in SQLite's
    virtual machine steps, which do not depend on the host's speed."""
    from store.tables import Lead

    def steps() -> int:
        count, found = counted_search(store, "lead0", ADA, "Hi Ada Lovelace,\n\nBest,\nRiley")
        assert found == []
        return count

    _fill(store, 200)
    alone = steps()
    namesakes = [_lead(1000 + i, f"Namesake{i}", "Lovelace", f"Other{i} Ltd") for i in range(3000)]
    with store.session() as session:
        session.execute(insert(Lead), namesakes)
    shared = steps()
    assert shared <= alone * 1.2, (alone, shared)


def test_a_large_account_and_names_alike_in_their_first_words_cost_the_search_nothing(
        store: Database) -> None:
    """A lead of a large account (thousands of colleagues at "Northwind Traders") and a text
    naming one of many organisations named alike ("University of Texas" among "University of
    ...") cost no more than in a small store: a name of up to NAME_KEY_CHARS characters is
    looked up exactly, so records that only begin alike are not read. (With keys of ten
    characters each draft read all of them.) Counted in SQLite's virtual machine steps."""
    from store.tables import Lead

    me = LeadIdentity(email="p0@x0.io", first_name="Ada", last_name="Lovelace",
                      company="Northwind Traders")
    text = ("Hi Ada,\n\nEveryone at Northwind Traders asked about the University of Texas "
            "pilot.\n\nBest,\nRiley")

    def steps() -> tuple[int, list[str]]:
        return counted_search(store, "lead0", me, text)

    _fill(store, 200)
    with store.session() as session:
        session.execute(update(Lead).where(Lead.id == "lead0").values(company=me.company))
        session.execute(insert(Lead), [_lead(900, "Tex", "Ranger", "University of Texas")])
    alone, found = steps()
    assert found == ["Tex Ranger", "Tex", "Ranger", "University of Texas"]
    with store.session() as session:
        session.execute(insert(Lead), [
            _lead(1000 + i, f"Colleague{i}", f"Surname{i}", "Northwind Traders")
            for i in range(3000)])
        session.execute(insert(Lead), [
            _lead(5000 + i, f"Alumna{i}", f"Surname{i}", f"University of State {i}")
            for i in range(3000)])
    crowded, found = steps()
    assert found == ["Tex Ranger", "Tex", "Ranger", "University of Texas"]
    assert crowded <= alone * 1.2, (alone, crowded)


def test_keys_follow_the_text_not_the_store() -> None:
    from service.name_search import _candidate_keys
    from store.tables.base import NAME_KEY_CHARS

    keys = set(_candidate_keys("Hi Ada,\n\nOttoline Vexbridge (Vexbridge Holdings) says hi."))
    # Whole words, runs of words up to the key's length, and the first characters of longer
    # names; never a piece of a word, never across the start of one.
    assert {"ada", "ada,", "hi ada", "ottoline", "vexbridge", "(vexbridge", "says hi",
            "says hi."} <= keys
    assert "ottoline vexbridge"[:NAME_KEY_CHARS] in keys
    assert "vexbridge holdings)"[:NAME_KEY_CHARS] in keys
    assert not {"tto", "ttoline", "i ada", "d", "bridge"} & keys
    assert _candidate_keys("") == [] and _candidate_keys("a") == []


def test_sqlite_builds_the_key_indexes_the_models_declare(store: Database) -> None:
    """Alembic cannot compare expression indexes on SQLite (PostgreSQL's comparison in
    tests/store covers them): the migrated database's are the models' here."""
    from sqlalchemy import text
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex

    from store.tables import Base

    names = ("ix_leads_first_name_key", "ix_leads_last_name_key", "ix_leads_company_key",
             "ix_support_conversations_customer_name_key")
    declared = {index.name: " ".join(str(CreateIndex(index).compile(
                    dialect=sqlite.dialect())).split())
                for table in Base.metadata.tables.values() for index in table.indexes
                if index.name in names}
    with store.read() as session:
        query = text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
        built: dict[str, str] = dict(session.execute(query).all())
    assert {name: " ".join(built[name].split()) for name in names} == declared
