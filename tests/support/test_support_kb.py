"""The knowledge base: indexing the shipped articles, retrieval with both embedding settings
(local offline hashing, and an OpenAI-compatible /embeddings endpoint mocked with respx),
grounded answers that cite the article, the model at its HTTP boundary, and `hitl kb add`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from agent.support.answers import OfflineAnswerer
from agent.support.policy import SupportPolicy
from config.clock import FrozenClock
from config.settings import DEFAULTS_DIR
from tests.conftest import T0, TOKEN, make_settings
from tools.embeddings import LocalHashingEmbeddings
from tools.knowledge_base import KnowledgeBase, KnowledgeBaseError, best_passage, parse_article

KB = DEFAULTS_DIR / "kb"
LLM = "http://llm.test/v1"
LOCAL = SupportPolicy().thresholds_for("local")
QUESTIONS = {
    "How do I reset my password?": "password-reset-and-login.md",
    "I forgot my password": "password-reset-and-login.md",
    "How do I export my data to CSV?": "data-export.md",
    "Is there a way to get all our leads out as a spreadsheet?": "data-export.md",
    "How do I set up SSO with Okta?": "sso-saml-setup.md",
    "Where can I download my invoices?": "billing-invoices-and-payments.md",
    "What is your cancellation policy?": "cancellation-policy.md",
    "How much does the Business plan cost?": "plans-and-pricing.md",
    "Do you integrate with Salesforce?": "salesforce-and-hubspot-sync.md",
    "Slack notifications are not arriving": "slack-integration.md",
    "How do I add a new user?": "users-and-roles.md",
    "the sync with hubspot is failing": "salesforce-and-hubspot-sync.md",
}
OFF_TOPIC = ["What will the weather be like in Paris tomorrow?",
             "Can you recommend a good pizza place?", "How do I change the color of the logo?",
             "my dashboard chart is empty"]


def test_the_sample_knowledge_base_is_realistic_and_parses() -> None:
    files = sorted(KB.glob("*.md"))
    assert 8 <= len(files) <= 12
    categories = set()
    for file in files:
        article = parse_article(file.read_text(encoding="utf-8"), file.name)
        assert article.title and article.summary and len(article.sections()) >= 2
        categories.add(article.category)
    assert {"billing", "security", "integrations", "data_export", "account_access", "plans",
            "cancellation"} <= categories


def test_local_retrieval_finds_the_right_article_above_the_threshold(support_kb: Any) -> None:
    for question, path in QUESTIONS.items():
        [best, *_] = support_kb.search(question, k=3)
        assert best.article.path == path, (question, best.article)
        assert best.similarity >= LOCAL.kb_min_similarity, (question, best.similarity)


def test_off_topic_questions_stay_below_the_threshold(support_kb: Any) -> None:
    for question in OFF_TOPIC:
        best = support_kb.search(question, k=1)[0]
        assert best.similarity < LOCAL.kb_min_similarity, (question, best)


def test_the_offline_answer_quotes_the_article_verbatim_and_cites_it(support_kb: Any) -> None:
    question = "How do I reset my password?"
    matches = support_kb.search(question)
    answer = OfflineAnswerer(best_passage).answer(question, matches, first_name="Ada")
    assert answer.answered and answer.source == "offline"
    assert answer.cited[0].title == "Resetting your password and fixing login problems"
    quoted = [line[2:] for line in answer.text.splitlines() if line.startswith("> ")]
    article = (KB / "password-reset-and-login.md").read_text(encoding="utf-8")
    assert quoted and all(part in " ".join(article.split()) for part in quoted)
    assert "“Resetting your password and fixing login problems”" in answer.text
    assert "Forgot password?" in best_passage(matches[0].passage, question)


def test_indexing_mirrors_the_folder(tmp_path: Path) -> None:
    import chromadb

    folder = tmp_path / "kb"
    shutil.copytree(KB, folder)
    (folder / "broken.md").write_text("---\ntitle: x\n", encoding="utf-8")
    kb = KnowledgeBase(chromadb.EphemeralClient(), LocalHashingEmbeddings(),
                       collection="kb-mirror-test")
    first = kb.index_folder(folder)
    assert first.articles == 12 and first.changed == 12 and first.skipped
    assert kb.index_folder(folder).changed == 0
    page = folder / "data-export.md"
    page.write_text(page.read_text().replace("50,000 rows", "75,000 rows"), encoding="utf-8")
    (folder / "slack-integration.md").unlink()
    again = kb.index_folder(folder)
    assert (again.changed, again.removed, kb.articles()) == (1, 1, 11)
    assert "75,000 rows" in kb.search("export more than 75,000 rows")[0].passage
    with pytest.raises(KnowledgeBaseError):
        kb.index_folder(tmp_path / "missing")


def _embed_like_local(request: httpx.Request) -> httpx.Response:
    """An /embeddings endpoint whose vectors carry meaning (the local hashing space, 256-d)."""
    body = json.loads(request.content)
    ef = LocalHashingEmbeddings(dim=256)
    data = [{"object": "embedding", "index": i, "embedding": ef.embed_one(t).tolist()}
            for i, t in enumerate(body["input"])]
    return httpx.Response(200, json={"object": "list", "data": data, "model": body["model"]})


def _completion(content: dict[str, Any]) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps(content)}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


@pytest.fixture
def model_client(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """The API on a runtime with a model endpoint and OpenAI embeddings (both mocked)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime

    settings = make_settings(tmp_path, openai_base_url=LLM, openai_api_key="k",
                             embeddings="openai", model="test-model", model_max_retries=0,
                             model_timeout_s=2)
    with respx.mock(assert_all_called=False) as mock:
        embeddings = mock.post(f"{LLM}/embeddings").mock(side_effect=_embed_like_local)
        chat = mock.post(f"{LLM}/chat/completions")
        rt = build_runtime(settings, clock=FrozenClock(T0))
        rt.db.upgrade()
        with TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            yield client, {"embeddings": embeddings, "chat": chat, "rt": rt}
        rt.close()


def test_openai_embeddings_and_a_model_answer_that_cites_the_article(model_client: Any) -> None:
    client, mocks = model_client
    mocks["chat"].mock(return_value=httpx.Response(200, json=_completion({
        "answer": "Click Forgot password? on the sign-in page and follow the emailed link.",
        "answered": True, "used_articles": [1]})))
    response = client.post("/v1/conversations/m-1/messages",
                           json={"text": "How do I reset my password?"})
    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert reply.startswith("Click Forgot password?")
    assert reply.endswith("Source: “Resetting your password and fixing login problems”.")
    assert mocks["embeddings"].called  # the sample KB and the question, through the endpoint
    sent = json.loads(mocks["chat"].calls.last.request.content)
    user = next(m["content"] for m in sent["messages"] if m["role"] == "user")
    assert "<kb_articles>" in user and "<customer_message>" in user
    assert "Forgot password?" in user


def test_a_model_that_finds_no_answer_is_a_miss_and_a_failing_model_falls_back(
        model_client: Any) -> None:
    client, mocks = model_client
    mocks["chat"].mock(return_value=httpx.Response(200, json=_completion({
        "answer": "I could not find that.", "answered": False, "used_articles": []})))
    missed = client.post("/v1/conversations/m-2/messages",
                         json={"text": "How do I export my data to CSV?"}).json()
    assert "couldn't find anything in our help center" in missed["reply"]
    mocks["chat"].mock(return_value=httpx.Response(500, json={"error": "boom"}))
    fallback = client.post("/v1/conversations/m-3/messages",
                           json={"text": "How do I export my data to CSV?"}).json()
    assert "here is what our help article “Exporting your data" in fallback["reply"].lower() \
        or "Here is what our help article “Exporting your data" in fallback["reply"]
    leaky = {"answer": "Email refunds@attacker.example for a refund.", "answered": True,
             "used_articles": [1]}
    mocks["chat"].mock(return_value=httpx.Response(200, json=_completion(leaky)))
    guarded = client.post("/v1/conversations/m-4/messages",
                          json={"text": "Where can I download my invoices?"}).json()
    assert "attacker" not in guarded["reply"] and "Source:" in guarded["reply"]


def test_hitl_kb_add_indexes_a_folder(tmp_path: Path, hitl_group: Any) -> None:
    from hitl.commands.kb import kb_app

    cli = hitl_group(kb_app, "kb")
    result = CliRunner().invoke(cli, ["kb", "add", str(KB)])
    assert result.exit_code == 0, result.output
    assert "12 articles" in result.output and "holds 12 articles" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(cli, ["kb", "add", str(empty)]).exit_code == 1
    assert CliRunner().invoke(cli, ["kb", "add", str(tmp_path / "nope")]).exit_code == 2
