"""The repeated-question trigger recognises a paraphrase by its words (offline, deterministic,
English, German, French and Spanish) and hands over on the third asking, not the fourth;
different questions on one topic are never a repeat, however alike their embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from agent.support.models import CustomerFacts
from agent.support.paraphrase import compare, english_gloss, read
from agent.support.policy import SupportPolicy
from agent.support.triggers import assess, evaluate, same_question, similar_earlier

POLICY = SupportPolicy()
LOCAL = POLICY.thresholds_for("local")
# Orthogonal vectors: the embeddings see nothing alike, so only the words can find a repeat.
UNLIKE = [np.eye(8, dtype=np.float32)[i] for i in range(8)]
# Identical vectors: the embeddings see everything alike, so only the words can say "different".
ALIKE = np.ones(8, dtype=np.float32)

PARAPHRASES = {
    "en": ["How do I reset my password?", "I forgot my password. How can I get a new one?",
           "Still stuck: what are the steps to reset a forgotten password?"],
    "de": ["Wie kann ich mein Passwort zurücksetzen?",
           "Ich habe mein Passwort vergessen. Wie setze ich es zurück?",
           "Nochmal: wie funktioniert das Zurücksetzen des Passworts?"],
    "fr": ["Où puis-je télécharger ma facture ?", "Comment obtenir ma facture en PDF ?",
           "Je ne trouve toujours pas où télécharger la facture, comment faire ?"],
    "es": ["¿Cómo exporto mis contactos?",
           "¿Hay alguna forma de descargar todos mis contactos en un archivo?",
           "Necesito exportar los contactos, ¿cómo se hace?"],
}
DIFFERENT = {
    "en": ["How do I invite a teammate?", "How do I change a teammate's role to admin?",
           "How do I remove a teammate from the workspace?"],
    "de": ["Wie lade ich neue Kollegen in den Workspace ein?",
           "Wie exportiere ich meine Kontakte als CSV?", "Wie richte ich SSO mit Okta ein?"],
}


def play(messages: list[str], vectors: list[np.ndarray]) -> int | None:
    """The customer turn (1-based) at which the repeated-question trigger fires, as the
    conversation evaluates each message against the earlier ones of the session."""
    for turn, text in enumerate(messages, start=1):
        earlier = list(enumerate(vectors[:turn - 1], start=1))
        similar = similar_earlier(vectors[turn - 1], earlier, LOCAL.repeat_similarity,
                                  current_text=text, earlier_texts=messages[:turn - 1])
        a = assess(text, sentiment=0.0, matches=[], similar=similar, thresholds=LOCAL,
                   policy=POLICY)
        decision = evaluate(a, misses_before=0, sentiment_history=[0.0], facts=CustomerFacts(),
                            thresholds=LOCAL, policy=POLICY)
        if decision is not None and (decision.trigger == "repeated_question"
                                     or "repeated_question" in decision.also):
            return turn
    return None


@pytest.mark.parametrize("language", sorted(PARAPHRASES))
def test_a_paraphrased_question_hands_over_on_the_third_asking(language: str) -> None:
    messages = PARAPHRASES[language]
    assert play(messages, UNLIKE[:3]) == 3
    # Each pair is read as the same question, by words alone.
    for i in range(3):
        for j in range(i):
            verdict, score = compare(messages[j], messages[i])
            assert verdict == "same" and 0 < score <= 1, (messages[j], messages[i])


@pytest.mark.parametrize("language", sorted(PARAPHRASES))
def test_two_askings_are_not_yet_a_repeat(language: str) -> None:
    assert play(PARAPHRASES[language][:2], UNLIKE[:2]) is None


def test_the_third_asking_counts_after_an_unrelated_question_in_between() -> None:
    messages = ["How do I export my contacts to CSV?", "Also, where do I change my password?",
                "Is there a way to download all my contacts as a file?",
                "I need the contacts as a CSV export. How does that work?"]
    assert play(messages, UNLIKE[:4]) == 4  # the third asking of the export question


@pytest.mark.parametrize("language", sorted(DIFFERENT))
def test_different_questions_on_one_topic_are_not_a_repeat(language: str) -> None:
    messages = DIFFERENT[language]
    # Each asks for another action: not a repeat even when the embeddings call them alike.
    assert play(messages, [ALIKE] * 3) is None
    assert play(messages, UNLIKE[:3]) is None


def test_different_actions_overrule_alike_embeddings() -> None:
    same, _ = same_question(ALIKE, ALIKE, LOCAL.repeat_similarity,
                            texts=("How do I add a user?", "How do I remove a user?"))
    assert not same
    assert compare("How do I add a user?", "How do I remove a user?")[0] == "different"
    assert compare("Wie füge ich einen Benutzer hinzu?", "Wie lösche ich einen Benutzer?")[0] \
        == "different"


@pytest.mark.parametrize(("first", "second"), [
    ("How do I export my contacts?", "How do I import contacts from a CSV?"),
    ("How do I reset my password?", "Why does my password expire every 30 days?"),
    ("How do I set up SSO with Okta?", "How do I enforce SSO for everyone?"),
    ("Wie exportiere ich meine Kontakte?", "Wie importiere ich Kontakte?"),
    ("¿Cómo cambio mi contraseña?", "¿Cómo restablezco mi contraseña olvidada?"),
])
def test_one_topic_with_another_action_is_another_question(first: str, second: str) -> None:
    assert compare(first, second)[0] == "different"
    assert not same_question(ALIKE, ALIKE, LOCAL.repeat_similarity, texts=(first, second))[0]


def test_without_shared_words_the_embeddings_decide() -> None:
    texts = ("Something is off with the dashboard", "The numbers look strange today")
    assert compare(*texts)[0] == "unknown"
    assert same_question(ALIKE, ALIKE, LOCAL.repeat_similarity, texts=texts)[0]
    assert not same_question(UNLIKE[0], UNLIKE[1], LOCAL.repeat_similarity, texts=texts)[0]
    # Without texts (older callers) only the embeddings count, as before.
    assert similar_earlier(UNLIKE[0], [(1, UNLIKE[1])], LOCAL.repeat_similarity) == []


def test_words_are_read_across_languages_and_forms() -> None:
    assert read("Passwort zurücksetzen").topics == read("reset the password").topics \
        == frozenset({"password"})
    assert read("mot de passe oublié").actions == frozenset({"reset"})
    assert read("¿Cómo exporto mis contactos?").actions == read("Export contacts").actions
    assert read("How do I change a user's role?").topics == frozenset({"user", "role"})
    # A generic topic alone ("a file") does not make two questions the same.
    assert compare("Can I attach a file to a note?", "Which file types can I import?")[0] \
        != "same"


def test_non_english_questions_get_an_english_search_gloss() -> None:
    assert english_gloss("Wie kann ich mein Passwort zurücksetzen?") == "password reset"
    assert english_gloss("Comment obtenir ma facture en PDF ?") == "invoice pdf"
    assert english_gloss("How do I reset my password?") == ""
    assert english_gloss("Das ist gut und wir sind froh") == ""  # nothing the lexicon names
