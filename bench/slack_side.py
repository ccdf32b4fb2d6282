"""Slack's side of the conversation: what Slack sends our app, signed as Slack signs it.

`SlackSide` signs bodies with the signing secret exactly as Slack does (v0 HMAC-SHA256 of
`v0:{timestamp}:{body}`) and posts `block_actions` and `view_submission` (form-encoded
`payload=`) and `event_callback` (JSON) to `/slack/events` through any client with httpx's
`post()`: an `httpx.Client` with a `base_url` (the bench, the drills) or a FastAPI `TestClient`
(the tests). The builders return bodies too, so a load generator can prepare them beforehand.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from bench.fake_slack import APP, BOT_ID, BOT_USER, TEAM, button


def sign(secret: str, body: str, timestamp: str) -> str:
    """Slack's `X-Slack-Signature` for `body` sent at `timestamp`."""
    from slack_sdk.signature import SignatureVerifier  # lazy: `hitl bench --help` stays fast

    return str(SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body))


def block_actions(message: dict[str, Any], prefix: str, user: str, n: int) -> dict[str, Any]:
    """The `block_actions` payload Slack sends when `user` clicks the button beginning with
    `prefix` on a posted message (`n` makes the trigger id unique)."""
    element = button(message["blocks"], prefix)
    return {
        "type": "block_actions", "api_app_id": APP, "token": "legacy-token",
        "team": {"id": TEAM, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "container": {"type": "message", "message_ts": message["ts"],
                      "channel_id": message["channel"], "is_ephemeral": False},
        "trigger_id": f"{n}.{n}.trigger{n}",
        "channel": {"id": message["channel"], "name": "directmessage"},
        "message": {"ts": message["ts"], "thread_ts": message.get("thread_ts"),
                    "blocks": message["blocks"], "bot_id": BOT_ID, "type": "message"},
        "response_url": "https://hooks.slack.test/actions/T0FAKE001/1/x",
        "actions": [{"type": "button", "action_id": element["action_id"],
                     "block_id": "decide", "value": element.get("value"),
                     "text": element["text"], "action_ts": f"{time.time():.6f}"}],
    }


def view_submission(view: dict[str, Any], user: str, values: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """The `view_submission` payload of a modal submitted by `user`: inputs keep their initial
    values unless `values` names the block (plain text value, select option value, or selected
    user)."""
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
    return {
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


class SlackSide:
    """Sends what Slack would send, signed, to `/slack/events` through `client.post()`."""

    def __init__(self, client: Any, secret: str) -> None:
        self.client = client
        self.secret = secret
        self._n = itertools.count(1)

    def signed(self, body: str, content_type: str, *, timestamp: int | None = None,
               signature: str | None = None, headers: dict[str, str] | None = None
               ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a signed request (`signature` forges one for tests)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        all_headers = {"X-Slack-Request-Timestamp": ts,
                       "X-Slack-Signature": signature or sign(self.secret, body, ts),
                       "Content-Type": content_type, **(headers or {})}
        return body.encode(), all_headers

    def post(self, body: str, content_type: str, **kwargs: Any) -> Any:
        """POST a signed body to `/slack/events` (kwargs: timestamp, signature, headers)."""
        content, headers = self.signed(body, content_type, **kwargs)
        return self.client.post("/slack/events", content=content, headers=headers)

    def interaction(self, payload: dict[str, Any], **kwargs: Any) -> Any:
        """POST an interactivity payload, form-encoded as Slack sends it."""
        return self.post(urlencode({"payload": json.dumps(payload)}),
                         "application/x-www-form-urlencoded", **kwargs)

    def click_body(self, message: dict[str, Any], prefix: str, user: str) -> str:
        """The form body of a click on the button beginning with `prefix`, as `user`."""
        payload = block_actions(message, prefix, user, next(self._n))
        return urlencode({"payload": json.dumps(payload)})

    def click(self, message: dict[str, Any], prefix: str, user: str, **kwargs: Any) -> Any:
        """Click the button beginning with `prefix` on a posted message, as `user`."""
        return self.post(self.click_body(message, prefix, user),
                         "application/x-www-form-urlencoded", **kwargs)

    def submit(self, view: dict[str, Any], user: str, values: dict[str, Any] | None = None,
               **kwargs: Any) -> Any:
        """Submit a modal as `user` (see `view_submission`)."""
        return self.interaction(view_submission(view, user, values), **kwargs)

    def event_body(self, event: dict[str, Any], *, event_id: str | None = None) -> str:
        """The JSON body of an `event_callback` carrying `event`."""
        body = {"token": "legacy-token", "team_id": TEAM, "api_app_id": APP,
                "event": event, "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()), "authorizations": [
                    {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}
        return json.dumps(body)

    def event(self, event: dict[str, Any], *, event_id: str | None = None,
              **kwargs: Any) -> Any:
        """POST an `event_callback` carrying `event`."""
        return self.post(self.event_body(event, event_id=event_id), "application/json",
                         **kwargs)

    def reply_event(self, channel: str, thread_ts: str, user: str, text: str
                    ) -> dict[str, Any]:
        """A person's message in a thread, as `message.im` / `message.channels` carry it."""
        n = next(self._n)
        return {"type": "message", "channel": channel, "user": user, "text": text,
                "ts": f"{1_800_000_000 + n}.{n:06d}", "thread_ts": thread_ts,
                "channel_type": "im" if channel.startswith("D") else "channel",
                "client_msg_id": str(uuid.uuid4()), "team": TEAM}

    def reply(self, channel: str, thread_ts: str, user: str, text: str, **kwargs: Any) -> Any:
        """POST a person's thread reply as an event."""
        return self.event(self.reply_event(channel, thread_ts, user, text), **kwargs)


def user_of_dm(channel: str) -> str:
    """The user a fake DM channel belongs to (`conversations.open` made `D…` from `U…`)."""
    return "U" + channel[1:]
