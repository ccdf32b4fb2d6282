"""The clients the app calls APIs with keep no cookies: what an answer sets (a CDN's bot cookie, a
load balancer's affinity) is never sent back, by the model drafter or the Slack client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import respx

from agent.drafting import build_drafter
from config.http import api_client, async_api_client
from slack_app.web import call, web_client
from tests.agent.drafting_helpers import LLM_URL, ask, model_settings

SETS_A_COOKIE = {"Set-Cookie": "__cf_bm=tracker; Path=/; HttpOnly"}


def test_a_cookie_an_answer_sets_is_never_sent_back() -> None:
    with respx.mock() as router:
        route = router.get("https://api.example/v1/x").mock(
            return_value=httpx.Response(200, headers=SETS_A_COOKIE))
        with api_client() as client:
            client.get("https://api.example/v1/x")
            client.get("https://api.example/v1/x", headers={"X-Second": "1"})
            assert len(client.cookies) == 0
    assert [call.request.headers.get("cookie") for call in route.calls] == [None, None]
    # the control: httpx's own client would have sent it
    with respx.mock() as router:
        route = router.get("https://api.example/v1/x").mock(
            return_value=httpx.Response(200, headers=SETS_A_COOKIE))
        with httpx.Client() as plain:
            plain.get("https://api.example/v1/x")
            plain.get("https://api.example/v1/x")
    assert route.calls[1].request.headers.get("cookie") == "__cf_bm=tracker"


def test_a_cookie_given_to_the_client_is_not_kept_either() -> None:
    with respx.mock() as router:
        route = router.get("https://api.example/v1/x").mock(return_value=httpx.Response(200))
        with api_client(cookies={"session": "s1"}) as client:
            client.cookies = {"session": "s2"}
            client.cookies.set("other", "o")
            client.cookies.update({"third": "t"})
            client.cookies.update(httpx.Cookies({"fourth": "f"}))
            client.cookies["fifth"] = "5"
            assert len(client.cookies) == 0
            client.get("https://api.example/v1/x")
    assert route.calls[0].request.headers.get("cookie") is None


def test_the_async_client_keeps_none() -> None:
    async def twice() -> list[Any]:
        async with async_api_client() as client:
            await client.get("https://api.example/v1/x")
            await client.get("https://api.example/v1/x")
        return [c.request.headers.get("cookie") for c in route.calls]

    with respx.mock() as router:
        route = router.get("https://api.example/v1/x").mock(
            return_value=httpx.Response(200, headers=SETS_A_COOKIE))
        assert asyncio.run(twice()) == [None, None]


def test_the_model_drafter_sends_back_no_cookie(tmp_path: Path) -> None:
    answer = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "finish_reason": "stop", "message": {
                  "role": "assistant", "content": json.dumps(
                      {"subject": "Your demo", "body": "Hi Ada,\n\nA call today?\n\nRiley"})}}]}
    drafter = build_drafter(model_settings(tmp_path))
    with respx.mock() as router:
        route = router.post(LLM_URL).mock(
            return_value=httpx.Response(200, json=answer, headers=SETS_A_COOKIE))
        assert drafter.draft(ask()).source == "model"
        assert drafter.draft(ask()).source == "model"
    assert len(route.calls) == 2
    assert route.calls[1].request.headers.get("cookie") is None


def test_the_slack_client_sends_back_no_cookie() -> None:
    rt = SimpleNamespace(settings=SimpleNamespace(slack_api_url="https://slack.cookies.test/api/",
                                                  slack_bot_token="xoxb-cookie",
                                                  outbound_connections=2))
    client = web_client(rt)
    with respx.mock() as router:
        route = router.post("https://slack.cookies.test/api/chat.postMessage").mock(
            return_value=httpx.Response(200, json={"ok": True, "ts": "1.0"},
                                        headers=SETS_A_COOKIE))
        call(client.chat_postMessage, channel="C1", text="one")
        call(client.chat_postMessage, channel="C1", text="two")
    assert [c.request.headers.get("cookie") for c in route.calls] == [None, None]


def test_the_embeddings_client_sends_back_no_cookie() -> None:
    from tools.embeddings import OpenAIEndpointEmbeddings

    embed = OpenAIEndpointEmbeddings("https://embeddings.cookies.test/v1", "key", batch_size=1)
    answer = {"data": [{"index": 0, "embedding": [0.1, 0.2]}]}
    with respx.mock() as router:
        route = router.post("https://embeddings.cookies.test/v1/embeddings").mock(
            return_value=httpx.Response(200, json=answer, headers=SETS_A_COOKIE))
        assert len(embed(["one", "two"])) == 2
    assert [c.request.headers.get("cookie") for c in route.calls] == [None, None]
