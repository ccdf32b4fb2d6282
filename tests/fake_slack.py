"""A small Slack Web API on loopback, and a Slack-side client that signs requests to our app.

`FakeSlack` answers the Web API methods the app uses, records every call (method, params,
token), keeps posted messages so tests can read a card as it is now, and can be told to fail
the next call to a method (429 with Retry-After, a 5xx, or a Slack error code).

`SlackSide` plays Slack towards the app: it signs bodies with the signing secret exactly as
Slack does (v0 HMAC-SHA256 of `v0:{timestamp}:{body}`) and posts `block_actions`,
`view_submission` (form-encoded `payload=`) and `event_callback` (JSON) to `/slack/events`.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from bench.fake_slack import FakeSlack as PackageFakeSlack
from bench.fake_slack import SlackCall as Call  # noqa: F401  (tests type calls with it)
from bench.fake_slack import block_actions
from tests.conftest import make_settings

BOT_USER = "U0BOT0001"
BOT_ID = "B0BOT0001"
TEAM = "T0FAKE001"
APP = "A0APP0001"


@dataclass
class FakeSlack(PackageFakeSlack):
    """The package's loopback Slack Web API (bench/fake_slack.py), with the tests' token
    and a base URL without the trailing slash (tests add it where Slack's SDK wants one)."""

    token: str = "xoxb-test"
    _last_url: str = field(default="", init=False, repr=False)

    @property
    def url(self) -> str:
        """Still known after the fake stopped (tests check that a dead endpoint is retried)."""
        if self._server is not None:
            self._last_url = super().url.rstrip("/")
        return self._last_url


def button(blocks: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """The button on a card whose text begins with `prefix`."""
    for block in blocks:
        for element in block.get("elements") or []:
            if element.get("type") == "button" and \
                    element["text"]["text"].startswith(prefix):
                return dict(element)
    raise AssertionError(f"no button beginning with {prefix!r}")


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["text"]["text"] for b in blocks for e in b.get("elements") or []
            if e.get("type") == "button"]


def all_text(blocks: list[dict[str, Any]]) -> str:
    """Every text a person would read in these blocks, joined (for assertions)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(out)


class SlackSide:
    """Sends what Slack would send, signed, to `/slack/events` of a FastAPI TestClient."""

    def __init__(self, client: Any, secret: str = "secret") -> None:
        self.client = client
        self.secret = secret
        self.verifier = SignatureVerifier(secret)
        self._n = itertools.count(1)

    def post(self, body: str, content_type: str, *, timestamp: int | None = None,
             signature: str | None = None, headers: dict[str, str] | None = None) -> Any:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = signature or self.verifier.generate_signature(timestamp=ts, body=body)
        all_headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
                       "Content-Type": content_type, **(headers or {})}
        return self.client.post("/slack/events", content=body.encode(), headers=all_headers)

    def interaction(self, payload: dict[str, Any], **kwargs: Any) -> Any:
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def click(self, message: dict[str, Any], prefix: str, user: str, **kwargs: Any) -> Any:
        """Click the button beginning with `prefix` on a posted message, as `user`."""
        return self.interaction(block_actions(message, prefix, user, next(self._n)), **kwargs)

    def submit(self, view: dict[str, Any], user: str, values: dict[str, Any] | None = None,
               **kwargs: Any) -> Any:
        """Submit a modal as `user`: inputs keep their initial values unless `values` names
        the block (plain text value, select option value, or selected user)."""
        values = values or {}
        state: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks") or []:
            if block.get("type") != "input":
                continue
            element = block["element"]
            block_id, action_id = block["block_id"], element["action_id"]
            given = values.get(block_id)
            kind = element["type"]
            if kind == "plain_text_input":
                value = given if block_id in values else element.get("initial_value")
                state[block_id] = {action_id: {"type": kind, "value": value}}
            elif kind == "static_select":
                option = next((o for o in element["options"] if o["value"] == given), None)
                state[block_id] = {action_id: {"type": kind, "selected_option": option}}
            elif kind == "users_select":
                state[block_id] = {action_id: {"type": kind, "selected_user": given}}
        payload = {
            "type": "view_submission", "api_app_id": APP, "token": "legacy-token",
            "team": {"id": TEAM, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "trigger_id": "1.1.submit",
            "view": {"id": view.get("id", "V1"), "type": "modal", "team_id": TEAM,
                     "callback_id": view["callback_id"],
                     "private_metadata": view.get("private_metadata", ""),
                     "blocks": view.get("blocks"), "state": {"values": state},
                     "hash": "1.abc", "app_id": APP, "bot_id": BOT_ID},
        }
        return self.interaction(payload, **kwargs)

    def event(self, event: dict[str, Any], *, event_id: str | None = None,
              **kwargs: Any) -> Any:
        body = {"token": "legacy-token", "team_id": TEAM, "api_app_id": APP,
                "event": event, "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()), "authorizations": [
                    {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}
        return self.post(json.dumps(body), "application/json", **kwargs)

    def reply_event(self, channel: str, thread_ts: str, user: str, text: str
                    ) -> dict[str, Any]:
        """A person's message in a thread, as `message.im` / `message.channels` carry it."""
        n = next(self._n)
        return {"type": "message", "channel": channel, "user": user, "text": text,
                "ts": f"{1_800_000_000 + n}.{n:06d}", "thread_ts": thread_ts,
                "channel_type": "im" if channel.startswith("D") else "channel",
                "client_msg_id": str(uuid.uuid4()), "team": TEAM}

    def reply(self, channel: str, thread_ts: str, user: str, text: str, **kwargs: Any) -> Any:
        return self.event(self.reply_event(channel, thread_ts, user, text), **kwargs)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02
               ) -> Any:
    """Poll until `predicate()` is truthy (work that runs after Slack got its ack)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


# -- fixtures: import them into a test module to run the app with Slack on ---------------------
# (`settings` replaces the conftest one there; `name=` keeps the imported names distinct.)

def card_message(rt: Any, fake: FakeSlack, approval_id: str) -> dict[str, Any]:
    """The posted card of one approval version, as it reads now (after any chat.update)."""
    from slack_app.store import get_card

    card = get_card(rt, approval_id)
    assert card is not None, f"no card recorded for {approval_id}"
    return fake.message(card.channel, card.ts)


@pytest.fixture(name="fake_slack")
def fake_slack_fixture() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(name="settings")
def slack_settings_fixture(tmp_path: Path, smtp_sink: Any, database_url: str, fake_slack: FakeSlack) -> Any:
    """The conftest settings with the Slack surface on, pointed at the fake Web API."""
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         slack_bot_token="xoxb-test", slack_signing_secret="secret",
                         slack_api_url=fake_slack.url + "/")


@pytest.fixture(name="slack")
def slack_side_fixture(client: Any, running_worker: Any) -> SlackSide:
    return SlackSide(client)

