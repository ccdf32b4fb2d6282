"""Fixtures for the support tests (no tests here): the shipped knowledge base indexed once, a
runtime using it, the API and Slack wired exactly as `api/app.py`, `slack_app/app.py` and
`service/worker.py` wire them (added here when those files do not do it yet)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from config.settings import DEFAULTS_DIR
from tests.conftest import TOKEN, make_settings

SUPPORT_CHANNEL = "C0SUPPORT1"


@pytest.fixture(name="support_kb", scope="session")
def support_kb_fixture(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shipped sample knowledge base in an embedded Chroma, local embeddings."""
    from tools.content_library import open_chroma
    from tools.embeddings import build_embedding_function
    from tools.knowledge_base import KnowledgeBase

    settings = make_settings(tmp_path_factory.mktemp("kb"))
    kb = KnowledgeBase(open_chroma(settings), build_embedding_function(settings))
    kb.index_folder(DEFAULTS_DIR / "kb")
    return kb


@pytest.fixture(name="support_rt")
def support_rt_fixture(rt: Any, support_kb: Any) -> Any:
    from service.support import install_support

    install_support(rt, knowledge_base=support_kb)
    return rt


def wire_api(app: Any) -> None:
    """`api/app.py`'s two lines for the support routers, unless it already has them."""
    from fastapi import Depends

    from api.deps import require_token
    from api.routers import conversations

    paths = {getattr(r, "path", "") for r in app.routes}
    if "/v1/conversations/{conversation_id}/messages" not in paths:
        app.include_router(conversations.router, prefix="/v1",
                           dependencies=[Depends(require_token)])
    if "/v1/handoffs/{handoff_id}" not in paths:
        app.include_router(conversations.handoffs_router, prefix="/v1",
                           dependencies=[Depends(require_token)])


@pytest.fixture(name="wired_slack")
def wired_slack_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """`slack_app/app.py` registering the support listeners first, unless it already does."""
    import slack_app.app as slack_app_module
    from slack_app.support import register_support

    if hasattr(slack_app_module, "register_support"):
        return
    original = slack_app_module.register

    def register(bolt: Any, rt: Any) -> None:
        register_support(bolt, rt)
        original(bolt, rt)

    monkeypatch.setattr(slack_app_module, "register", register)


@pytest.fixture(name="support_client")
def support_client_fixture(support_rt: Any, wired_slack: None) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(support_rt)
    wire_api(app)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


@pytest.fixture(name="support_worker")
def support_worker_fixture(worker: Any) -> Any:
    """The worker with the support job handlers (as `service/worker.py` will register them)."""
    from service.support_jobs import SUPPORT_JOB_HANDLERS

    for kind, handler in SUPPORT_JOB_HANDLERS.items():
        if kind not in worker.handlers:
            worker.register(kind, handler)
    return worker


def say(client: Any, text: str, conversation: str = "conv-1", **customer: Any) -> dict[str, Any]:
    """Post as a widget backend does: the customer named on a conversation's first message is
    sent again with every later one (the conversation belongs to that email)."""
    known: dict[str, dict[str, Any]] = client.__dict__.setdefault("_customers", {})
    customer = customer or known.get(conversation, {})
    known.setdefault(conversation, customer)
    body: dict[str, Any] = {"text": text}
    if customer:
        body["customer"] = customer
    response = client.post(f"/v1/conversations/{conversation}/messages", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def conversation(client: Any, conversation_id: str = "conv-1") -> dict[str, Any]:
    response = client.get(f"/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def handoff(client: Any, handoff_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/handoffs/{handoff_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
