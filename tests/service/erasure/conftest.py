"""The erasure tests: the app with the content library and the knowledge base indexed in the
test's own Chroma folder, and the Slack surface on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from config.settings import DEFAULTS_DIR, Settings
from tests.conftest import TOKEN
from tests.fake_slack import SlackSide


@pytest.fixture
def settings(slack_settings: Settings) -> Settings:
    return slack_settings


@pytest.fixture(name="app_rt")
def app_rt_fixture(rt: Any) -> Any:
    """The runtime with the content library and the knowledge base indexed in this test's own
    Chroma folder, so compaction meets several collections and the grep sees them all."""
    from service.support import install_support
    from tools.content_library import ContentLibrary, open_chroma
    from tools.embeddings import build_embedding_function
    from tools.knowledge_base import KnowledgeBase

    ef = build_embedding_function(rt.settings)
    library = ContentLibrary(open_chroma(rt.settings), ef)
    library.index_folder(DEFAULTS_DIR / "content")
    rt.__dict__["content_library"] = library
    rt.library_override = library
    kb = KnowledgeBase(open_chroma(rt.settings), ef)
    kb.index_folder(DEFAULTS_DIR / "kb")
    install_support(rt, knowledge_base=kb)
    return rt


@pytest.fixture(name="app")
def app_fixture(app_rt: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(app_rt), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


@pytest.fixture(name="slack")
def slack_fixture(app: Any, running_worker: Any) -> SlackSide:
    return SlackSide(app)
