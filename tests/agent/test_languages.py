"""Issue 18 item 2: the policy's word rules in German, French and Spanish (accent- and
case-insensitive), the lead's language (messages, else country, else default), and drafts
written in it (offline; the model drafter's request is checked in test_offline_drafts.py)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.context.risks import _competitor_word
from agent.drafting import OfflineDrafter
from agent.language import canonical_form, fold, language_name, lead_language
from agent.qualification import qualify
from agent.qualification.disqualifiers import disqualifiers
from agent.qualification.fit import fit
from agent.qualification.intent import base_weight, is_hand_raise, signal_label
from tests.agent.drafting_helpers import LEAD, ask, package
from tests.agent.qualification_helpers import NOW, POLICY, form, lead, page, sig


@pytest.mark.parametrize(("url", "label"), [
    ("https://vendor.example/de/preise", "pricing page"),
    ("https://vendor.example/fr/tarifs", "pricing page"),
    ("https://vendor.example/es/precios", "pricing page"),
    ("https://vendor.example/ES/PRECIOS?plan=pro", "pricing page"),
    ("https://vendor.example/de/vergleich/rivalsoft", "comparison page"),
    ("https://vendor.example/fr/comparatif", "comparison page"),
    ("https://vendor.example/es/integración/salesforce", "integration page"),
    ("https://vendor.example/es/integraci%C3%B3n/hubspot", "integration page"),
    ("https://vendor.example/fr/d%C3%A9mo", "demo page"),
    ("https://vendor.example/fr/%C3%A9tude-de-cas/acme", "case study"),
])
def test_page_rules_in_every_language(url: str, label: str) -> None:
    signal = page(url)
    assert signal_label(signal, POLICY) == label
    english = next(r.weight for r in POLICY.scoring.page_rules if r.label == label)
    assert base_weight(signal, POLICY) == english > POLICY.scoring.event_weights["page_view"]


def test_an_unrelated_page_in_another_language_is_only_a_page_view() -> None:
    assert signal_label(page("https://vendor.example/de/karriere"), POLICY) == "page view"


@pytest.mark.parametrize("title", [
    "Geschäftsführer", "GESCHAEFTSFUEHRER", "geschaftsfuhrerin", "Leiter Vertrieb",
    "Vertriebsleiter", "Directeur commercial", "Directrice marketing", "PDG",
    "Responsable des achats", "Jefe de compras", "Director de operaciones", "Gerente general",
])
def test_senior_titles_in_every_language(title: str) -> None:
    assert "senior title" in " ".join(fit(lead(title=title), POLICY).reasons).lower() or \
        fit(lead(title=title), POLICY).score > fit(lead(title="Analyst"), POLICY).score


@pytest.mark.parametrize("title", ["Sachbearbeiter", "Assistant commercial", "Analista"])
def test_other_titles_are_not_senior(title: str) -> None:
    assert fit(lead(title=title), POLICY).score == fit(lead(title="Analyst"), POLICY).score


@pytest.mark.parametrize("title", [
    "Werkstudent Vertrieb", "Praktikantin Marketing", "Marketing-Praktikant",
    "Étudiant en master", "ETUDIANTE", "Stagiaire marketing", "Estudiante de ingeniería",
    "Becario de ventas",
])
def test_student_titles_in_every_language(title: str) -> None:
    codes = [d.code for d in disqualifiers(lead(title=title), POLICY)]
    assert codes == ["student"]
    assert qualify(lead(title=title), [form("demo")], NOW, POLICY).band == "disqualified"


@pytest.mark.parametrize("title", ["Responsable des étudiants", "Leiter Praktikantenprogramm",
                                   "Student Success Manager"])
def test_staff_who_work_with_students_are_not_students(title: str) -> None:
    assert disqualifiers(lead(title=title), POLICY) == []


@pytest.mark.parametrize(("name", "canonical"), [
    ("Demo-Anfrage", "demo"), ("demo anfordern", "demo"), ("Kontakt", "contact"),
    ("Demande de démo", "demo"), ("DEMANDE DE DEMO", "demo"), ("Contactez-nous", "contact"),
    ("Solicitar demo", "demo"), ("Contacto", "contact"), ("Precios", "pricing"),
    ("Essai gratuit", "trial"), ("Boletín", "newsletter"), ("demo", "demo"),
])
def test_form_names_in_every_language(name: str, canonical: str) -> None:
    assert canonical_form(name, POLICY) == canonical
    signal = form(name)
    assert base_weight(signal, POLICY) == POLICY.scoring.form_weights[canonical]
    assert signal_label(signal, POLICY) == f"{canonical} form"
    assert is_hand_raise(signal, POLICY) == (canonical in POLICY.routing.hand_raise_forms)


def test_a_german_hand_raise_is_routed_like_an_english_one() -> None:
    german = lead(title="Geschäftsführer", country="DE", email="jonas@firma.de", domain="firma.de")
    verdict = qualify(german, [form("Demo-Anfrage")], NOW, POLICY)
    english = qualify(lead(country="DE"), [form("demo")], NOW, POLICY)
    assert verdict.route == english.route == "hand_raise"
    assert verdict.band == english.band == "A"


@pytest.mark.parametrize("text", ["Wir suchen eine Alternative zu RivalSoft",
                                  "C'est une alternative a notre outil",
                                  "Buscamos una alternativa a nuestro proveedor"])
def test_competitor_words_in_every_language(text: str) -> None:
    assert _competitor_word(text, POLICY.risks.competitor_words) is not None


def test_fold_removes_accents_and_case() -> None:
    assert fold("Geschäftsführer") == "geschaftsfuhrer"
    assert fold("ÉTUDIANT") == "etudiant" and fold("Straße") == "strasse"


# -- the lead's language ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "language"), [
    ("Wie viel kostet die Lizenz für 50 Nutzer? Wir möchten das bald einführen.", "de"),
    ("Bonjour, combien coûte la licence pour notre équipe ? Merci.", "fr"),
    ("Hola, ¿cuánto cuesta la licencia para nuestro equipo de ventas?", "es"),
    ("Hi, how much does the licence cost for a team of 50? Thanks.", "en"),
])
def test_language_of_messages(text: str, language: str) -> None:
    guess = lead_language("US" if language != "en" else "DE", [text], POLICY)
    assert (guess.language, guess.source) == (language, "messages")


@pytest.mark.parametrize(("country", "language"), [("DE", "de"), ("at", "de"), ("FR", "fr"),
                                                   ("MX", "es"), ("US", "en"), ("JP", "en")])
def test_language_from_country_when_messages_do_not_say(country: str, language: str) -> None:
    guess = lead_language(country, ["ok", "Hola"], POLICY)
    assert guess.language == language
    assert guess.source == ("default" if country == "JP" else "country")


# -- drafts in the lead's language -----------------------------------------------------------

_GREETING = {"de": "Hallo Ada,", "fr": "Bonjour Ada,", "es": "Hola Ada,", "en": "Hi Ada,"}
_MARKERS = {"de": ("Vielen Dank", "Viele Grüße"), "fr": ("Merci", "Bien cordialement"),
            "es": ("Gracias", "Saludos")}


@pytest.mark.parametrize("language", ["de", "fr", "es"])
def test_offline_draft_in_the_leads_language(language: str) -> None:
    draft = OfflineDrafter().draft(ask(language=language))
    english = OfflineDrafter().draft(ask())
    assert draft.body.startswith(_GREETING[language])
    thanks, sign_off = _MARKERS[language]
    assert thanks in draft.body and sign_off in draft.body
    assert draft.body.rstrip().endswith("Riley Rep")
    assert draft.subject != english.subject and "demo" in fold(draft.subject)
    assert "Northwind logistics case study" in draft.body  # the asset's own title
    assert draft.note == f"offline draft in {language_name(language)}"


def test_offline_draft_formal_german_says_sie_and_informal_says_du() -> None:
    formal = OfflineDrafter().draft(ask(language="de", instruction="more formal"))
    informal = OfflineDrafter().draft(ask(language="de", instruction="less formal"))
    assert formal.body.startswith("Guten Tag Ada,") and "Mit freundlichen Grüßen" in formal.body
    assert "für Sie interessant" in formal.body
    assert informal.body.startswith("Hallo Ada,") and "für dich interessant" in informal.body
    assert "Ihr" not in informal.body and "Sie " not in informal.body
    assert informal.subject == "Zu deiner Demo-Anfrage"


def test_revise_into_another_language() -> None:
    first = OfflineDrafter().draft(ask())
    spanish = OfflineDrafter().draft(ask(instruction="write it in Spanish", previous=first))
    assert spanish.body.startswith("Hola Ada,")
    assert spanish.note is not None and "Spanish" in spanish.note
    assert package().lead_id == LEAD.lead_id


def test_inbound_german_reply_signal_is_labelled_in_english_for_the_rep() -> None:
    assert signal_label(sig("inbound_reply", text="Wie viel kostet das?"), POLICY) == \
        "inbound reply"


def test_events_may_name_a_form_in_another_language() -> None:
    """The API, CSV and CRM paths accept "Demo-Anfrage" and store it as the contract's "demo"
    (the name it was sent with kept as `form_name`); an unknown form is still refused."""
    from pydantic import ValidationError

    from service.schemas import EventIn

    def event(form: str) -> EventIn:
        return EventIn.model_validate({
            "event_id": "e1", "type": "form_submit", "occurred_at": "2026-11-18T10:00:00Z",
            "lead": {"email": "jonas@firma.de"}, "properties": {"form": form}})

    assert event("Demo-Anfrage").properties == {"form": "demo", "form_name": "Demo-Anfrage"}
    assert event("contacto").properties["form"] == "contact"
    assert event("demo").properties == {"form": "demo"}
    with pytest.raises(ValidationError, match="properties.form must be one of demo"):
        event("webinar")


# -- the support bot's offline answer in the customer's language ------------------------------

@pytest.mark.parametrize(("question", "opening", "source"), [
    ("Wie kann ich SSO mit Okta einrichten?", "Ada, so ", "(der Artikel ist auf Englisch)"),
    ("Comment puis-je configurer le SSO avec Okta ?", "Ada, voici ", "(l'article est en anglais)"),
    ("¿Cómo puedo configurar el SSO con Okta?", "Ada, así ", "(el artículo está en inglés)"),
    ("How do I set up SSO with Okta?", "Ada, here is ", "Source: “"),
])
def test_support_offline_answer_in_the_customers_language(
        support_rt: Any, question: str, opening: str, source: str) -> None:
    from service.support import support

    answerer = support(support_rt).answerer
    matches = support_rt_kb(support_rt).search("How do I set up SSO with Okta?", k=1)
    answer = answerer.answer(question, matches, first_name="Ada")
    assert answer.text.startswith(opening)
    assert source in answer.text and answer.cited == [matches[0].article]


def support_rt_kb(rt: Any) -> Any:
    from service.support import support

    return support(rt).knowledge_base


# -- end to end: a German lead through the API, the worker and a revise -----------------------

def test_a_german_lead_gets_a_german_card_and_a_revise_changes_it(client: Any,
                                                                  worker: Any) -> None:
    from datetime import timedelta

    from tests.conftest import T0, event
    from tests.flow import decide, pending_card

    jonas = {"email": "jonas.keller@nordlicht.de", "first_name": "Jonas", "last_name": "Keller",
             "company": "Nordlicht Logistik", "title": "Geschäftsführer",
             "domain": "nordlicht.de", "country": "DE", "employees": 850,
             "industry": "Logistics"}
    card = pending_card(client, worker, [
        event("de-1", "page_view", at=T0 - timedelta(days=1), lead=jonas,
              url="https://vendor.example/de/preise"),
        event("de-2", "form_submit", at=T0 - timedelta(minutes=5), lead=jonas,
              form="Demo-Anfrage", message="Wie viel kostet die Lizenz für 40 Nutzer?"),
    ])
    draft = card["draft"]
    assert card["assignee"] == "U0REP0003"  # the EMEA rep
    assert draft["note"] == "offline draft in German" and draft["to"] == jonas["email"]
    assert draft["subject"] == "Zu Ihrer Demo-Anfrage"
    assert draft["body"].startswith("Hallo Jonas,")
    assert "„Wie viel kostet die Lizenz für 40 Nutzer?“ Der Preis hängt" in draft["body"]
    assert "Passt Ihnen " in draft["body"] and " Uhr oder " in draft["body"]

    response = decide(client, card["approval_id"], action="revise", actor="U0REP0003",
                      instruction="less formal, mention our SOC 2 report")
    assert response.status_code == 200, response.text
    worker.run_until_idle()
    [v2] = client.get("/v1/approvals", params={"status": "pending"}).json()
    assert v2["version"] == 2 and v2["draft"]["body"] != draft["body"]
    assert "Du hast gefragt" in v2["draft"]["body"]
    assert "Außerdem möchte ich our SOC 2 report erwähnen." in v2["draft"]["body"]
    assert v2["draft"]["note"] == ("offline draft in German: followed: less formal, mentioned "
                                   "'our SOC 2 report'")
