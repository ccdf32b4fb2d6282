"""Qualification's rule matching pinned word for word, and its caches honest about the policy.

Titles and addresses are matched against rule words and domains folded once per policy list
(agent/qualification/titles.py, domains.py); these tables were recorded from the matcher that
re-folded every rule on every call, so any drift in what matches, or in the label and reason a
rep reads, shows up here. A policy with other words must get its own answers, not a cached one.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent.qualification import qualify
from agent.qualification.disqualifiers import disqualifiers
from agent.qualification.fit import fit
from agent.qualification.intent import signal_label
from agent.qualification.titles import _rule_phrases, senior_word, student_title
from tests.agent.qualification_helpers import NOW, POLICY, D, form, lead, page

RULES = POLICY.disqualifiers

# (title, student word heading it, senior word in it)
TITLES: list[tuple[str, str | None, str | None]] = [
    ('VP Operations', None, 'vp'),
    ('vp of sales', None, 'vp'),
    ('Vice President, Sales', None, 'vice president'),
    ('Head of Sales | Acme', None, 'head'),
    ('PhD Student', 'student', None),
    ('phd candidate', 'phd candidate', None),
    ('Marketing Intern', 'intern', None),
    ('Intern, Sales', 'intern', None),
    ('Student at MIT', 'student', None),
    ('Student Success Manager', None, None),
    ('Intern Program Lead', None, None),
    ('Executive Assistant to the CEO', None, None),
    ('Assistant to CEO', None, None),
    ('Chief of Staff to the CEO, Chief Revenue Officer', None, 'chief'),
    ('Geschäftsführer', None, 'Geschäftsführer'),
    ('GESCHAEFTSFUEHRER', None, 'Geschäftsführer'),
    ('geschaftsfuhrer', None, 'Geschäftsführer'),
    ('Vertriebsleiter DACH', None, 'leiter'),
    ('Leiterin Marketing', None, 'Leiterin'),
    ('Marketingdirektorin', None, None),
    ('Werkstudent Vertrieb', 'werkstudent', None),
    ('Vertriebspraktikant', 'praktikant', None),
    ('Praktikant (Vertrieb)', 'praktikant', None),
    ('Étudiant en master', 'etudiant', None),
    ('ETUDIANTE', 'etudiante', None),
    ('Stagiaire - Marketing', 'stagiaire', None),
    ('Directora de Ventas', None, 'Directora'),
    ('Becario de marketing', 'becario', None),
    ('Co-Founder & CEO', None, 'ceo'),
    ('Founder/Owner', None, 'founder'),
    ('Senior Analyst, Finance', None, None),
    ('Software Engineer', None, None),
    ('', None, None),
    ('   ', None, None),
    ('ＶＰ Ｓａｌｅｓ', None, 'vp'),
    ('Straße Leiter', None, 'Leiter'),
    ('Doktorandin · Physik', 'doktorandin', None),
    ('Alumno', 'alumno', None),
    ('Undergraduate Researcher', None, None),
    ('Research Undergraduate', 'undergraduate', None),
    ('Director – Student Services', None, 'director'),
    ('the student', 'student', None),
    ('president to the', None, 'president'),
    ('Azubi', 'azubi', None),
    ('Auszubildende Kauffrau', 'auszubildende', None),
    ('CTO @ startup', None, 'cto'),
    ('cto/cofounder', None, 'cto'),
    ('Head', None, 'head'),
]

# (email, disqualifiers as (code, reason), fit score) for an in-ICP "Analyst"; "x@edu" also
# has the CRM company domain rivalsoft.com.
EMAILS: list[tuple[str, list[tuple[str, str]], float]] = [
    ('ada@acme.io', [], 75.0),
    ('s@mit.edu', [('student', 'academic email domain mit.edu (.edu)')], 75.0),
    ('s@cs.mit.edu', [('student', 'academic email domain cs.mit.edu (.edu)')], 75.0),
    ('s@ox.ac.uk', [('student', 'academic email domain ox.ac.uk (.ac.uk)')], 75.0),
    ('x@education.com', [], 75.0),
    ('p@rivalsoft.com', [('competitor', 'competitor domain rivalsoft.com (rivalsoft.com)')], 75.0),
    ('p@eu.rivalsoft.com', [('competitor', 'competitor domain eu.rivalsoft.com (rivalsoft.com)')], 75.0),
    ('p@notrivalsoft.com', [], 75.0),
    ('t@mailinator.com', [('throwaway_domain', 'throwaway email domain mailinator.com')], 75.0),
    ('t@MAILINATOR.COM', [('throwaway_domain', 'throwaway email domain mailinator.com')], 75.0),
    ('x@gmail.com', [], 55.0),
    ('no-at', [('invalid_domain', 'email address has no @')], 75.0),
    ('a@b@c.com', [('invalid_domain', 'email address has more than one @')], 75.0),
    ('sp ace@acme.io', [('invalid_domain', 'email address is malformed')], 75.0),
    ('@acme.io', [('invalid_domain', 'email address is malformed')], 75.0),
    ('x@', [('invalid_domain', 'email address has no domain')], 75.0),
    ('x@nodot', [('invalid_domain', "email domain 'nodot' has no dot")], 75.0),
    ('x@bad_label.com', [('invalid_domain', "email domain 'bad_label.com' has invalid characters")], 75.0),
    ('x@a..b.com', [('invalid_domain', "email domain 'a..b.com' has an empty label")], 75.0),
    ('x@münchen.de', [], 75.0),
    ('x@acme.123', [('invalid_domain', "email domain 'acme.123' has no valid top-level domain")], 75.0),
    ('x@leadforge.ai.', [('competitor', 'competitor domain leadforge.ai (leadforge.ai)'), ('invalid_domain', "email domain 'leadforge.ai.' has an empty label")], 75.0),
    ('x@uni.edu.au', [('student', 'academic email domain uni.edu.au (.edu.au)')], 75.0),
    ('x@edu', [('competitor', 'competitor domain rivalsoft.com (rivalsoft.com)'), ('invalid_domain', "email domain 'edu' has no dot")], 75.0),
]


@pytest.mark.parametrize(("title", "student", "senior"), TITLES)
def test_title_words_match_as_recorded(title: str, student: str | None, senior: str | None
                                       ) -> None:
    assert student_title(title, RULES.student_title_words,
                         RULES.student_title_lead_words) == student
    assert senior_word(title, POLICY.icp.senior_title_words) == senior


@pytest.mark.parametrize(("email", "found", "score"), EMAILS)
def test_addresses_are_judged_as_recorded(email: str, found: list[tuple[str, str]],
                                          score: float) -> None:
    record = lead(email=email, title="Analyst",
                  domain="rivalsoft.com" if email == "x@edu" else None)
    assert [(d.code, d.reason) for d in disqualifiers(record, POLICY)] == found
    assert fit(record, POLICY).score == score


def _with(section: str, **changes: Any) -> Any:
    return POLICY.model_copy(update={
        section: getattr(POLICY, section).model_copy(update=changes)})


def test_another_policy_gets_its_own_rule_words() -> None:
    # The default policy's answers are cached first; a policy with other words must not see them.
    record = lead(title="Chief Happiness Officer", email="ada@acme.io")
    assert senior_word(record.title, POLICY.icp.senior_title_words) == "chief"
    assert senior_word(record.title, ["happiness officer", "chief"]) == "happiness officer"
    assert student_title("Happiness Officer", RULES.student_title_words) is None
    assert student_title("Happiness Officer", ["officer"]) == "officer"

    officers = _with("icp", senior_title_words=["officer"])
    assert "Officer title" in fit(record, officers).reasons
    assert "Chief title" in fit(record, POLICY).reasons

    no_students = _with("disqualifiers", student_title_words=[], student_title_lead_words=[],
                        student_email_suffixes=[".ac.uk"], competitor_domains=["acme.io"],
                        throwaway_domains=["acme.io"])
    student = lead(title="PhD Student", email="gina@state.edu", domain="state.edu")
    assert [d.code for d in disqualifiers(student, POLICY)] == ["student"]
    assert disqualifiers(student, no_students) == []
    assert [d.code for d in disqualifiers(record, no_students)] == [
        "competitor", "throwaway_domain"]


def test_another_policy_gets_its_own_page_rules() -> None:
    pricing = page("https://vendor.example/pricing")
    assert signal_label(pricing, POLICY) == "pricing page"
    rules = [rule.model_copy(update={"label": "price list"}) if rule.label == "pricing page"
             else rule for rule in POLICY.scoring.page_rules]
    assert signal_label(pricing, _with("scoring", page_rules=rules)) == "price list"
    assert signal_label(pricing, _with("scoring", page_rules=[])) == "page view"


def test_rule_words_are_folded_once_per_policy_not_per_lead() -> None:
    # The cost this guards: folding every rule word into phrases on every call (two calls a lead).
    qualify(lead(), [form("demo")], NOW, POLICY)
    misses = _rule_phrases.cache_info().misses
    for i in range(20):
        record = lead(email=f"rep{i}@firma{i}.de", title=f"Vertriebsleiter {i}", country="DE")
        qualify(record, [page("https://vendor.example/de/preise", D), form("Demo-Anfrage")],
                NOW, POLICY)
    assert _rule_phrases.cache_info().misses == misses
