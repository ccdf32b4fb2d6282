"""The worker's Slack client (`slack_app.web.web_client`): slack_sdk's WebClient with its HTTP
exchanges on kept-alive connections. Many calls share one connection; what reaches Slack and
what the SDK makes of the answer are as with the SDK's own urllib exchange (failures are
classified in tests/slack/test_slack_jobs.py, for both clients)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from slack_app.web import KeepAliveWebClient, call, web_client
from tests.fake_slack import FakeSlack


def _runtime(url: str) -> Any:
    return SimpleNamespace(settings=SimpleNamespace(slack_api_url=url + "/",
                                                    slack_bot_token="xoxb-test",
                                                    outbound_connections=8))


@pytest.fixture
def fake() -> Any:
    with FakeSlack() as slack:
        yield slack


def test_the_workers_calls_share_one_kept_alive_connection(fake: Any) -> None:
    client = web_client(_runtime(fake.url))
    assert isinstance(client, KeepAliveWebClient) and client is web_client(_runtime(fake.url))
    for n in range(10):
        data = call(client.chat_postMessage, channel="C1", text=f"card {n}",
                    blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": f"*{n}*"}}])
        assert data["ok"] is True and data["channel"] == "C1"
    posted = fake.calls("chat.postMessage")
    assert [c.params["text"] for c in posted] == [f"card {n}" for n in range(10)]
    assert {c.token for c in posted} == {"xoxb-test"}
    assert posted[3].params["blocks"][0]["text"]["text"] == "*3*"  # the JSON body as sent
    assert fake.connections == 1  # the SDK's urllib exchange opened one per call


def test_threads_share_the_client_and_its_pool(fake: Any) -> None:
    client = web_client(_runtime(fake.url))
    errors: list[BaseException] = []

    def post(n: int) -> None:
        try:
            for k in range(5):
                call(client.chat_postMessage, channel="C1", text=f"{n}-{k}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(c.params["text"] for c in fake.calls("chat.postMessage")) == sorted(
        f"{n}-{k}" for n in range(4) for k in range(5))
    assert fake.connections <= 4  # at most one connection per thread, each kept


def test_the_answer_and_its_headers_reach_the_caller_as_the_sdk_gives_them(fake: Any) -> None:
    from slack_sdk import WebClient

    ours = web_client(_runtime(fake.url)).auth_test()
    sdks = WebClient(token="xoxb-test", base_url=fake.url + "/").auth_test()
    assert ours.status_code == sdks.status_code == 200
    assert ours.data == sdks.data and ours["ok"] is True
    assert set(ours.headers) - {"Date"} == set(sdks.headers) - {"Date"}
    assert ours.headers["Content-Type"] == sdks.headers["Content-Type"]


def test_a_url_that_is_not_http_is_refused_before_any_exchange() -> None:
    import httpx
    from slack_sdk.errors import SlackRequestError

    client = KeepAliveWebClient(http=httpx.Client(), token="xoxb-test",
                                base_url="file:///etc/")
    with pytest.raises(SlackRequestError, match="Invalid URL"):
        client.auth_test()


def test_form_and_multipart_bodies_go_out_as_the_sdk_builds_them(fake: Any) -> None:
    """The SDK sends `params` form-encoded and `data` as multipart, with an int Content-Length
    header (urllib writes it with str()): both reach Slack."""
    client = web_client(_runtime(fake.url))
    assert client.api_call("chat.postMessage", params={"channel": "C1", "text": "form"})["ok"]
    assert client.api_call("auth.test", data={"note": "multipart"},
                           files={"file": b"a file's bytes"})["ok"]
    assert [c.params.get("text") for c in fake.calls("chat.postMessage")] == ["form"]
    assert len(fake.calls("auth.test")) == 1 and fake.connections == 1


def test_a_message_given_as_text_alone_is_shown_from_verbatim_blocks(fake: Any) -> None:
    """Slack auto-links URLs and channel names in a message's top-level text, which has no
    `verbatim` switch: the text stays the notification, the message shows verbatim sections."""
    client = web_client(_runtime(fake.url))
    text = "Ada wrote: see https://evil.example/login and #general " + "x " * 2000
    call(client.chat_postMessage, channel="C1", text=text)
    [posted] = fake.calls("chat.postMessage")
    assert posted.params["text"] == text
    blocks = posted.params["blocks"]
    assert len(blocks) == 2 and all(b["type"] == "section" and b["text"]["verbatim"] is True
                                    for b in blocks)
    assert " ".join(b["text"]["text"] for b in blocks).split() == text.split()
