"""Qualification from the lead record: disqualifiers and firmographic fit."""

from __future__ import annotations

from typing import Any

import pytest

from agent.qualification.disqualifiers import disqualifiers
from agent.qualification.fit import fit
from tests.agent.qualification_helpers import POLICY, lead

# --- disqualifiers -------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "codes"), [
    # students: the student word heads the title, or the email is academic
    ({"title": "PhD Student"}, ["student"]),
    ({"title": "Marketing Intern"}, ["student"]),
    ({"title": "Intern, Sales"}, ["student"]),
    ({"title": "Student at MIT"}, ["student"]),
    ({"title": "PhD Candidate (Chemistry)"}, ["student"]),
    ({"title": "Undergraduate"}, ["student"]),
    ({"email": "gina@state.edu", "domain": "state.edu"}, ["student"]),
    ({"email": "gina@cs.stanford.edu"}, ["student"]),
    ({"email": "gina@ox.ac.uk"}, ["student"]),
    # competitors: email or company domain, subdomains included
    ({"email": "spy@rivalsoft.com"}, ["competitor"]),
    ({"email": "spy@eu.pipelinepro.io"}, ["competitor"]),
    ({"email": "spy@gmail.com", "domain": "https://www.leadforge.ai/about"}, ["competitor"]),
    # invalid domains
    ({"email": "ada@acme"}, ["invalid_domain"]),
    ({"email": "ada@"}, ["invalid_domain"]),
    ({"email": "ada.acme.io"}, ["invalid_domain"]),
    ({"email": "ada@acme..io"}, ["invalid_domain"]),
    ({"email": "ada@.acme.io"}, ["invalid_domain"]),
    ({"email": "ada@acme.io."}, ["invalid_domain"]),
    ({"email": "ada@-acme.io"}, ["invalid_domain"]),
    ({"email": "ada@acme_corp.io"}, ["invalid_domain"]),
    ({"email": "ada@acme.i"}, ["invalid_domain"]),
    ({"email": "ada@acme.123"}, ["invalid_domain"]),
    ({"email": "ada@b@acme.io"}, ["invalid_domain"]),
    ({"email": "@acme.io"}, ["invalid_domain"]),
    ({"email": "ada park@acme.io"}, ["invalid_domain"]),
    # throwaway mailboxes
    ({"email": "q@mailinator.com"}, ["throwaway_domain"]),
    ({"email": "q@eu.yopmail.com"}, ["throwaway_domain"]),
    # several at once, one entry per code
    ({"email": "kid@mit.edu", "title": "Student", "domain": "rivalsoft.com"},
     ["student", "competitor"]),
])
def test_disqualifiers(overrides: dict[str, Any], codes: list[str]) -> None:
    found = disqualifiers(lead(**overrides), POLICY)
    assert [d.code for d in found] == codes
    assert all(d.reason for d in found)


@pytest.mark.parametrize("overrides", [
    # Staff who work with students are buyers, not students (the word is not the head noun).
    {"title": "Student Success Manager"},
    {"title": "Director of Student Services"},
    {"title": "Intern Program Lead"},
    # Whole words only.
    {"title": "Internship Coordinator"},
    {"title": "International Sales Director"},
    {"title": "Interim CFO"},
    # ".edu" must be the whole last label(s).
    {"email": "ada@education.com", "domain": "education.com"},
    {"email": "ada@edu.io"},
    {"email": "ada@acme.education"},
    # Look-alike competitor and throwaway domains.
    {"email": "ada@notrivalsoft.com", "domain": "notrivalsoft.com"},
    {"email": "ada@rivalsoft.com.evil.io"},
    {"email": "ada@mailinator.co"},
    # Unusual but valid addresses.
    {"email": "ada+demo@sub.acme.co.uk"},
    {"email": "ADA@ACME.IO"},
    {"email": "ada@bücher.de"},
    {"email": "ada@xn--bcher-kva.de"},
    {"email": "ada@my-company.io"},
])
def test_near_misses_do_not_disqualify(overrides: dict[str, Any]) -> None:
    assert disqualifiers(lead(**overrides), POLICY) == []


def test_disqualifier_reasons_are_human_readable() -> None:
    by_code = {d.code: d.reason for d in disqualifiers(
        lead(email="gina@state.edu", title="PhD Student", domain="rivalsoft.com"), POLICY)}
    assert "PhD Student" in by_code["student"] and "state.edu" in by_code["student"]
    assert "rivalsoft.com" in by_code["competitor"]
    assert "no dot" in disqualifiers(lead(email="ada@acme"), POLICY)[0].reason
    assert "mailinator.com" in disqualifiers(lead(email="q@mailinator.com"), POLICY)[0].reason


def test_disqualifier_lists_come_from_the_policy() -> None:
    policy = POLICY.model_copy(update={"disqualifiers": POLICY.disqualifiers.model_copy(
        update={"competitor_domains": ["acme.io"]})})
    assert [d.code for d in disqualifiers(lead(), policy)] == ["competitor"]
    assert disqualifiers(lead(email="spy@rivalsoft.com", domain="rivalsoft.com"), policy) == []


# --- fit ---------------------------------------------------------------------------------


def test_full_icp_fit() -> None:
    result = fit(lead(), POLICY)
    assert result.score == 100
    assert result.segment == "mid-market"
    assert result.in_icp is True
    assert result.reasons == ["mid-market (850 employees)", "industry Software", "country US",
                              "VP title"]


def test_fit_points_add_up_per_policy() -> None:
    # Enterprise (35) + country (15), industry and title outside ICP.
    result = fit(lead(employees=5000, industry="Education", title="Engineer"), POLICY)
    assert result.score == 50
    assert result.segment == "enterprise"
    assert result.in_icp is True
    assert "industry Education outside ICP" in result.reasons


def test_free_email_penalty() -> None:
    result = fit(lead(email="ada@gmail.com"), POLICY)
    assert result.score == 80
    assert "free email (gmail.com)" in result.reasons


def test_fit_is_clamped_at_zero() -> None:
    result = fit(lead(email="x@gmail.com", employees=10, industry="Food", country="BR",
                      title="Baker"), POLICY)
    assert result.score == 0
    assert result.in_icp is False
    assert "country BR outside ICP" in result.reasons
    assert "smb (10 employees) outside ICP" in result.reasons


def test_fit_is_clamped_at_one_hundred() -> None:
    generous = POLICY.model_copy(update={"icp": POLICY.icp.model_copy(update={
        "fit_points": POLICY.icp.fit_points.model_copy(update={"segment": 90})})})
    assert fit(lead(), generous).score == 100


def test_in_icp_needs_both_segment_and_country() -> None:
    assert fit(lead(country="BR"), POLICY).in_icp is False
    assert fit(lead(employees=50), POLICY).in_icp is False
    assert fit(lead(employees=None), POLICY).in_icp is False
    assert fit(lead(industry="Food", title=None), POLICY).in_icp is True


def test_fit_matching_is_case_insensitive_for_industry_and_country() -> None:
    result = fit(lead(industry="  software ", country="us"), POLICY)
    assert result.score == 100
    assert result.in_icp is True


def test_unknown_firmographics_score_nothing() -> None:
    result = fit(lead(employees=None, industry=None, country=None, title=None), POLICY)
    assert result.score == 0
    assert result.segment is None
    assert result.reasons == ["company size unknown", "industry unknown", "country unknown"]


@pytest.mark.parametrize(("title", "label"), [
    ("VP Operations", "VP title"),
    ("Vice-President, Sales", "Vice President title"),
    ("Co-Founder & CEO", "CEO title"),
    ("Director of Revenue Operations", "Director title"),
    ("head of growth", "Head title"),
])
def test_senior_titles(title: str, label: str) -> None:
    result = fit(lead(title=title), POLICY)
    assert label in result.reasons
    assert result.score == 100


@pytest.mark.parametrize("title", [
    "Headquarters Coordinator",      # "head" only as a whole word
    "Directory Services Engineer",
    "Executive Assistant to the CEO",  # works for a senior person
    "Sales Manager",
    None,
])
def test_not_senior_titles(title: str | None) -> None:
    result = fit(lead(title=title), POLICY)
    assert result.score == 75
    assert not any(r.endswith(" title") for r in result.reasons)
