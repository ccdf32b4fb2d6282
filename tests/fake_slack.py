"""A small Slack Web API on loopback, and a Slack-side client that signs requests to our app.

`FakeSlack` answers the Web API methods the app uses, records every call (method, params,
token), keeps posted messages so tests can read a card as it is now, and can be told to fail
the next call to a method (429 with Retry-After, a 5xx, or a Slack error code).

`SlackSide` plays Slack towards the app: it signs bodies with the signing secret exactly as
Slack does (v0 HMAC-SHA256 of `v0:{timestamp}:{body}`) and posts `block_actions`,
`view_submission` (form-encoded `payload=`) and `event_callback` (JSON) to `/slack/events`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.conftest import make_settings

BOT_USER = "U0BOT0001"
BOT_ID = "B0BOT0001"
TEAM = "T0FAKE001"
APP = "A0APP0001"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None


@dataclass
class _Failure:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None


@dataclass
class FakeSlack:
    """`with FakeSlack() as slack: ... slack.url ... slack.calls("chat.postMessage")`."""

    token: str = "xoxb-test"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._calls: list[Call] = []
        self._failures: dict[str, list[_Failure]] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api"

    # -- what tests ask ----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls()]

    def fail_next(self, method: str, *, status: int = 200, error: str | None = None,
                  retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next `times` calls to `method` with an HTTP status and/or Slack error."""
        if status == 429 and error is None:
            error = "ratelimited"
        with self._lock:
            self._failures.setdefault(method, []).extend(
                [_Failure(status, error or "internal_error", retry_after)] * times)

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0,
                 where: Callable[[Call], bool] | None = None) -> list[Call]:
        """Block until `count` calls to `method` (matching `where`) were made; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [c for c in self._calls
                         if c.method == method and (where is None or where(c))]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} {method} call(s), saw {len(found)}; "
                                         f"all calls: {[c.method for c in self._calls]}")
                self._lock.wait(remaining)

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.messages[(channel, ts)])

    def thread(self, channel: str, root_ts: str) -> list[dict[str, Any]]:
        """Replies in a thread, oldest first (the root excluded)."""
        with self._lock:
            return [m for (ch, ts), m in sorted(self.messages.items(), key=lambda kv: kv[0][1])
                    if ch == channel and m.get("thread_ts") == root_ts and ts != root_ts]

    # -- the server --------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(request.path)
        method = parsed.path.rstrip("/").rsplit("/", 1)[-1]
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(parse_qsl(parsed.query))
        ctype = request.headers.get("Content-Type") or ""
        if raw and "json" in ctype:
            params.update(json.loads(raw))
        elif raw:
            params.update(dict(parse_qsl(raw.decode())))
        for key in ("blocks", "view", "attachments"):  # form-encoded JSON fields
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        auth = request.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").strip() or params.get("token")

        with self._lock:
            self._calls.append(Call(method, params, token))
            failure = (self._failures.get(method) or [None]).pop(0) if \
                self._failures.get(method) else None
            if failure is not None:
                status, body, headers = failure.status, {"ok": False, "error": failure.error}, {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
            elif token != self.token:
                status, body, headers = 200, {"ok": False, "error": "invalid_auth"}, {}
            else:
                status, headers = 200, {}
                body = self._answer(method, params)
            self._lock.notify_all()
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_700_000_000 + n}.{n:06d}"

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake",
                    "user": "hitl", "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID}
        if method == "conversations.open":
            users = str(p.get("users") or "")
            if not users:
                return {"ok": False, "error": "users_list_not_supplied"}
            return {"ok": True, "channel": {"id": "D" + users.split(",")[0][1:]}}
        if method == "chat.postMessage":
            if not p.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            ts = self._next_ts()
            message = {"ts": ts, "channel": p["channel"], "text": p.get("text"),
                       "blocks": p.get("blocks") or [], "thread_ts": p.get("thread_ts"),
                       "bot_id": BOT_ID}
            self.messages[(p["channel"], ts)] = message
            return {"ok": True, "channel": p["channel"], "ts": ts, "message": message}
        if method == "chat.update":
            key = (str(p.get("channel")), str(p.get("ts")))
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key].update(text=p.get("text"), blocks=p.get("blocks") or [])
            return {"ok": True, "channel": key[0], "ts": key[1]}
        if method == "chat.postEphemeral":
            if not p.get("channel") or not p.get("user"):
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "views.open":
            if not p.get("trigger_id"):
                return {"ok": False, "error": "invalid_trigger_id"}
            return {"ok": True, "view": {"id": f"V{uuid.uuid4().hex[:9].upper()}",
                                         **(p.get("view") or {})}}
        if method == "views.publish":
            return {"ok": True, "view": {"id": "VHOME", **(p.get("view") or {})}}
        if method == "users.info":
            user = self.users.get(str(p.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": p.get("user"), **user}}
        return {"ok": False, "error": "unknown_method"}


# -- Slack's side: signed requests to our app ----------------------------------------------------

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
        element = button(message["blocks"], prefix)
        n = next(self._n)
        payload = {
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
        return self.interaction(payload, **kwargs)

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
def slack_side_fixture(client: Any) -> SlackSide:
    return SlackSide(client)
