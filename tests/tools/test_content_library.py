"""The content library over embedded Chroma, and the two embedding functions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import respx

from config.settings import DEFAULTS_DIR
from tests.conftest import make_settings
from tools.content_library import ContentLibrary, ContentLibraryError, open_chroma, parse_asset
from tools.embeddings import (
    EMBEDDINGS_MODEL,
    EmbeddingError,
    LocalHashingEmbeddings,
    OpenAIEndpointEmbeddings,
    build_embedding_function,
)

CONTENT = DEFAULTS_DIR / "content"
EMBEDDINGS_URL = "http://llm.test/v1/embeddings"


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(CONTENT, folder)
    return folder


@pytest.fixture
def library(tmp_path: Path) -> ContentLibrary:
    settings = make_settings(tmp_path)
    return ContentLibrary(open_chroma(settings), build_embedding_function(settings))


def fake_vectors(request: httpx.Request, dim: int = 8) -> httpx.Response:
    """An endpoint that embeds each text as a deterministic vector, answered out of order."""
    body = json.loads(request.content)
    data = []
    for i, text in enumerate(body["input"]):
        seed = sum(text.encode()) % 997
        vector = [((seed * (j + 1)) % 13) / 13 + 0.01 for j in range(dim)]
        data.append({"object": "embedding", "index": i, "embedding": vector})
    return httpx.Response(200, json={"object": "list", "data": list(reversed(data)),
                                     "model": body["model"]})


# -- the shipped sample library ----------------------------------------------------------------


def test_sample_library_parses() -> None:
    files = sorted(CONTENT.rglob("*.md"))
    assert 8 <= len(files) <= 10
    kinds = {parse_asset(f.read_text(), f.name).kind for f in files}
    assert kinds == {"talk_track", "case_study", "playbook"}


@pytest.mark.parametrize(("query", "kind", "expected"), [
    ("pricing page pricing form how much does it cost", "talk_track",
     "talk-tracks/pricing-questions.md"),
    ("pricing page pricing form", None, "talk-tracks/pricing-questions.md"),
    ("logistics case study", "case_study", "case-studies/logistics-harbor-line.md"),
    ("freight logistics customer results", None, "case-studies/logistics-harbor-line.md"),
    ("Manufacturing", "case_study", "case-studies/manufacturing-keystone.md"),
    ("switching from a competitor alternative", None, "talk-tracks/competitor-displacement.md"),
    ("integration page salesforce", "talk_track", "talk-tracks/integration-questions.md"),
    ("demo form", "talk_track", "talk-tracks/demo-follow-up.md"),
    ("re-engagement not now recycled", "playbook", "playbooks/re-engagement.md"),
])
def test_recommend_finds_the_right_asset(
    content_library: ContentLibrary, query: str, kind: str | None, expected: str
) -> None:
    found = content_library.recommend(query, kind=kind)
    assert [a.path for a in found] == [expected]
    assert found[0].title and found[0].summary


def test_recommend_k_and_kind_filter(content_library: ContentLibrary) -> None:
    found = content_library.recommend("case study results", kind="case_study", k=5)
    assert len(found) == 3 and {a.kind for a in found} == {"case_study"}
    assert content_library.recommend("pricing", k=0) == []
    with pytest.raises(ValueError, match="kind"):
        content_library.recommend("pricing", kind="battlecard")


def test_concurrent_reads(content_library: ContentLibrary) -> None:
    from concurrent.futures import ThreadPoolExecutor

    queries = ["pricing page", "logistics case study", "strategic account", "demo form"] * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda q: content_library.recommend(q)[0].path, queries))
    assert results == [content_library.recommend(q)[0].path for q in queries]


# -- indexing ----------------------------------------------------------------------------------


def test_reindex_is_idempotent_and_removed_files_disappear(
    library: ContentLibrary, content_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded: list[str] = []
    original = LocalHashingEmbeddings.embed_one

    def counting(self: LocalHashingEmbeddings, text: str) -> Any:
        embedded.append(text)
        return original(self, text)

    monkeypatch.setattr(LocalHashingEmbeddings, "embed_one", counting)

    total = len(list(content_copy.rglob("*.md")))
    assert library.index_folder(content_copy) == total
    assert library.count() == total
    assert len(embedded) == total

    embedded.clear()
    assert library.index_folder(content_copy) == total
    assert library.count() == total
    assert embedded == []  # nothing changed, nothing re-embedded

    pricing = content_copy / "talk-tracks" / "pricing-questions.md"
    pricing.write_text(pricing.read_text() + "\nAlso mention annual prepay.\n")
    (content_copy / "case-studies" / "logistics-harbor-line.md").unlink()
    embedded.clear()
    assert library.index_folder(content_copy) == total - 1
    assert library.count() == total - 1
    assert len(embedded) == 1
    paths = [a.path for a in library.recommend("logistics freight case study", k=20)]
    assert "case-studies/logistics-harbor-line.md" not in paths
    assert "talk-tracks/pricing-questions.md" in paths


def test_front_matter_formats_and_bad_files(library: ContentLibrary, tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "toml.md").write_text(
        '+++\ntitle = "Churn rescue"\nkind = "playbook"\ntags = ["churn", "retention"]\n'
        'summary = "Save at-risk renewals."\n+++\nBody text.\n'
    )
    (folder / "yaml.md").write_text(
        "---\ntitle: 'Onboarding: week one'\nkind: talk_track  # the kind\ntags:\n"
        "  - onboarding\n  - kickoff\nsummary: First-week call.\n---\nBody.\n"
    )
    (folder / "no-front-matter.md").write_text("# Just notes\n")
    (folder / "bad-kind.md").write_text("---\ntitle: X\nkind: battlecard\n---\n")
    assert library.index_folder(folder) == 2

    toml = parse_asset((folder / "toml.md").read_text(), "toml.md")
    assert (toml.title, toml.kind, toml.tags) == ("Churn rescue", "playbook",
                                                   ("churn", "retention"))
    yaml = parse_asset((folder / "yaml.md").read_text(), "yaml.md")
    assert (yaml.title, yaml.kind, yaml.tags) == ("Onboarding: week one", "talk_track",
                                                   ("onboarding", "kickoff"))
    assert [a.title for a in library.recommend("churn renewal retention")] == ["Churn rescue"]
    with pytest.raises(ContentLibraryError, match="not a folder"):
        library.index_folder(folder / "missing")


def test_reopening_the_persisted_collection_rebuilds_the_embedding_function(
    tmp_path: Path, content_copy: Path
) -> None:
    settings = make_settings(tmp_path)
    first = ContentLibrary(open_chroma(settings), LocalHashingEmbeddings())
    first.index_folder(content_copy)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # pygal's import hook (installed once a report drew a chart earlier in the run) makes
        # chromadb's `google.colab` probe warn; that is not what this test guards.
        warnings.simplefilter("ignore", ImportWarning)
        client = open_chroma(settings)
        again = ContentLibrary(client, LocalHashingEmbeddings())
        assert again.count() == len(list(content_copy.rglob("*.md")))
        collection = client.get_collection("content-library", embedding_function=None)
        rebuilt = collection.configuration.get("embedding_function")
        assert isinstance(rebuilt, LocalHashingEmbeddings)
        assert collection.configuration_json["embedding_function"]["name"] == (
            "hitl-local-hashing"
        )
        assert again.recommend("pricing", kind="talk_track")[0].path == (
            "talk-tracks/pricing-questions.md"
        )


@respx.mock
def test_switching_embeddings_rebuilds_the_collection(tmp_path: Path, content_copy: Path) -> None:
    respx.post(EMBEDDINGS_URL).mock(side_effect=fake_vectors)
    settings = make_settings(tmp_path)
    ContentLibrary(open_chroma(settings), LocalHashingEmbeddings()).index_folder(content_copy)

    with httpx.Client() as http:
        remote = OpenAIEndpointEmbeddings("http://llm.test/v1", "sk-test", http_client=http)
        library = ContentLibrary(open_chroma(settings), remote)
        assert library.count() == 0  # 512-d local vectors cannot be searched with another model
        total = library.index_folder(content_copy)
        assert library.count() == total
        assert len(library.recommend("pricing", k=2)) == 2


def test_open_chroma_rejects_a_bad_server_url(tmp_path: Path) -> None:
    with pytest.raises(ContentLibraryError, match="HITL_CHROMA_URL"):
        open_chroma(make_settings(tmp_path, chroma_url="localhost:8000"))


# -- embedding functions -----------------------------------------------------------------------


def test_local_embeddings_are_deterministic_and_normalised() -> None:
    ef = LocalHashingEmbeddings()
    texts = ["Pricing questions talk track", "Logistics case study", "", "pricing question"]
    first, second = ef(texts), LocalHashingEmbeddings()(texts)
    assert all(len(v) == 512 for v in first)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)
        assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    cosine = float(np.dot(first[0], first[3]))
    assert cosine > float(np.dot(first[0], first[1]))  # shared words and n-grams score closer
    assert ef.get_config() == {"dim": 512, "version": 1}
    assert not ef.is_legacy()


@pytest.mark.slow
def test_local_embeddings_are_identical_in_another_process() -> None:
    code = (
        "import json; from tools.embeddings import LocalHashingEmbeddings as E; "
        "print(json.dumps([float(x) for x in E()(['Demo follow-up for Acme'])[0]]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env, cwd=Path(__file__).resolve().parents[2])
    here = LocalHashingEmbeddings()(["Demo follow-up for Acme"])[0]
    assert np.allclose(json.loads(out.stdout), here)


@respx.mock
def test_openai_endpoint_embeddings_batches_and_sends_the_right_json() -> None:
    route = respx.post(EMBEDDINGS_URL).mock(side_effect=fake_vectors)
    with httpx.Client() as http:
        ef = OpenAIEndpointEmbeddings("http://llm.test/v1/", "sk-test", EMBEDDINGS_MODEL,
                                      http, batch_size=2)
        vectors = ef(["alpha", "beta", "gamma"])

    assert route.call_count == 2
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert bodies == [
        {"model": "text-embedding-3-small", "input": ["alpha", "beta"]},
        {"model": "text-embedding-3-small", "input": ["gamma"]},
    ]
    assert route.calls[0].request.headers["Authorization"] == "Bearer sk-test"
    expected = [fake_vectors(call.request).json()["data"] for call in route.calls]
    by_index = [sorted(batch, key=lambda item: item["index"]) for batch in expected]
    flat = [item["embedding"] for batch in by_index for item in batch]
    assert len(vectors) == 3
    for got, want in zip(vectors, flat, strict=True):
        assert np.allclose(got, want)


@respx.mock
def test_openai_endpoint_errors_are_clear_and_keep_the_key_out() -> None:
    respx.post(EMBEDDINGS_URL).mock(return_value=httpx.Response(
        401, json={"error": {"message": "Incorrect API key provided", "type": "auth"}}))
    with httpx.Client() as http:
        ef = OpenAIEndpointEmbeddings("http://llm.test/v1", "sk-secret-123", http_client=http)
        with pytest.raises(EmbeddingError) as info:
            ef(["hello"])
    message = str(info.value)
    assert "401" in message and "Incorrect API key provided" in message
    assert "http://llm.test/v1/embeddings" in message
    assert "sk-secret-123" not in message


@respx.mock
def test_openai_endpoint_unreachable_or_malformed() -> None:
    respx.post(EMBEDDINGS_URL).mock(side_effect=httpx.ConnectError("refused"))
    with httpx.Client() as http:
        ef = OpenAIEndpointEmbeddings("http://llm.test/v1", None, http_client=http)
        with pytest.raises(EmbeddingError, match="failed: ConnectError"):
            ef(["hello"])
        respx.post(EMBEDDINGS_URL).mock(return_value=httpx.Response(200, json={"nope": 1}))
        with pytest.raises(EmbeddingError, match="unexpected response"):
            ef(["hello"])


def test_openai_config_never_holds_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    ef = OpenAIEndpointEmbeddings("http://llm.test/v1", "sk-secret-123")
    config = ef.get_config()
    assert "sk-secret-123" not in json.dumps(config)
    assert config["base_url"] == "http://llm.test/v1" and config["model"] == EMBEDDINGS_MODEL
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    rebuilt = OpenAIEndpointEmbeddings.build_from_config(config)
    assert rebuilt.api_key == "sk-from-env" and rebuilt.url == EMBEDDINGS_URL
    assert not ef.is_legacy()


def test_build_embedding_function_follows_the_settings(tmp_path: Path) -> None:
    assert isinstance(build_embedding_function(make_settings(tmp_path)), LocalHashingEmbeddings)
    remote = build_embedding_function(make_settings(
        tmp_path, embeddings=None, openai_base_url="http://llm.test/v1", openai_api_key="k"))
    assert isinstance(remote, OpenAIEndpointEmbeddings)
    assert remote.url == EMBEDDINGS_URL and remote.model == EMBEDDINGS_MODEL
    forced_local = build_embedding_function(make_settings(
        tmp_path, embeddings="local", openai_base_url="http://llm.test/v1"))
    assert isinstance(forced_local, LocalHashingEmbeddings)


def test_repeated_queries_are_answered_from_memory_until_the_library_changes(
    library: ContentLibrary, content_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library.index_folder(content_copy)
    asked: list[str] = []
    original = ContentLibrary._query

    def counting(self: ContentLibrary, collection: Any, query: str, kind: str | None,
                 n: int) -> Any:
        asked.append(query)
        return original(self, collection, query, kind, n)

    monkeypatch.setattr(ContentLibrary, "_query", counting)
    first = library.recommend("logistics freight case study", k=3)
    assert library.recommend("logistics freight case study", k=3) == first
    assert asked == ["logistics freight case study"]  # Chroma asked once
    library.recommend("logistics freight case study", k=1)
    assert len(asked) == 2  # another k is another question

    # Re-indexing forgets every answer: a removed asset is never recommended from memory.
    (content_copy / "case-studies" / "logistics-harbor-line.md").unlink()
    library.index_folder(content_copy)
    paths = [a.path for a in library.recommend("logistics freight case study", k=3)]
    assert "case-studies/logistics-harbor-line.md" not in paths and len(asked) == 3
