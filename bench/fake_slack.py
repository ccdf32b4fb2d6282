"""A local Slack Web API for the bench, the drills and the tests.

`FakeSlack` answers the Web API methods the app uses (`auth.test`, `conversations.open`,
`conversations.history` / `replies`, `chat.postMessage`, `chat.update`, `chat.delete`,
`chat.postEphemeral`, `views.open`, `views.publish`, `users.info`, and for the assistant
`assistant.threads.setStatus` / `setSuggestedPrompts` / `setTitle` and the streaming
`chat.startStream` / `appendStream` / `stopStream`), records every call with the time it arrived
(`time.monotonic()`), keeps posted messages so a card can be read (and clicked) as it is now,
and can fail the next calls to a method. `card_posted_at()` is the bench's stopwatch: when the
first `chat.postMessage` carrying an approval's buttons arrived.

Slack's side of the conversation (signed requests to our app) is in bench/slack_side.py. The
test suite uses these same fakes (tests/fake_slack.py holds only its pytest fixtures and
assertion helpers), kept here so `hitl bench` runs from a fresh clone without the tests.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

BOT_USER = "U0BOT0001"
BOT_ID = "B0BOT0001"
TEAM = "T0FAKE001"
APP = "A0APP0001"
APPROVE_PREFIX = "Approve"


@dataclass
class SlackCall:
    method: str
    params: dict[str, Any]
    token: str | None
    at: float  # time.monotonic() when the request arrived


@dataclass
class _Failure:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    applied: bool = False  # the call took effect; only its answer is the failure


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


@dataclass
class FakeSlack:
    """`with FakeSlack() as slack: ... slack.url ... slack.calls("chat.postMessage")`."""

    token: str = "xoxb-bench"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set to a Slack error ("unknown_method", "not_allowed") to answer every chat.*Stream call
    # with it, as a workspace without streaming does; None streams.
    stream_error: str | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._calls: list[SlackCall] = []
        self._failures: dict[str, list[_Failure]] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._cards: dict[str, tuple[float, str, str]] = {}  # approval_id -> (at, channel, ts)
        self._ts = itertools.count(1)
        self._server: _Server | None = None
        self.connections = 0  # TCP connections accepted: clients that keep them alive open few

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the second waits for the
            # client's delayed ACK (~40 ms on Linux), time a real API does not add.
            disable_nagle_algorithm = True

            def setup(self) -> None:  # once per TCP connection (HTTP/1.1 keeps it for more)
                super().setup()
                with fake._lock:
                    fake.connections += 1

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        # shutdown() waits for the loop's next poll: 0.05 s, not the default 0.5 s a test.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name="fake-slack", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """The value for SLACK_API_URL (with its trailing slash)."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/"

    # -- what callers ask --------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def fail_next(self, method: str, *, status: int = 200, error: str | None = None,
                  retry_after: int | None = None, times: int = 1, applied: bool = False) -> None:
        """Answer the next `times` calls to `method` with an HTTP status and/or Slack error;
        `applied`: the call still takes effect (a message is posted), its answer is lost."""
        if status == 429 and error is None:
            error = "ratelimited"
        with self._lock:
            self._failures.setdefault(method, []).extend(
                [_Failure(status, error or "internal_error", retry_after, applied)] * times)

    def recover(self) -> None:
        """Drop every failure `fail_next` still has queued: Slack is back."""
        with self._lock:
            self._failures.clear()

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0,
                 where: Callable[[SlackCall], bool] | None = None) -> list[SlackCall]:
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
                    raise TimeoutError(f"expected {count} {method} call(s), saw {len(found)}")
                self._lock.wait(remaining)

    def card_posted_at(self) -> dict[str, float]:
        """approval_id -> when its card's `chat.postMessage` arrived (first one only)."""
        with self._lock:
            return {k: v[0] for k, v in self._cards.items()}

    def card(self, approval_id: str) -> dict[str, Any] | None:
        """The card of an approval as it reads now (after any `chat.update`)."""
        with self._lock:
            found = self._cards.get(approval_id)
            if found is None:
                return None
            return dict(self.messages[(found[1], found[2])])

    def wait_for_cards(self, approval_ids: set[str] | int, timeout: float = 60.0
                       ) -> dict[str, float]:
        """Block until these approvals (or this many) have a card; return card_posted_at()."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                have = set(self._cards)
                done = (len(have) >= approval_ids if isinstance(approval_ids, int)
                        else approval_ids <= have)
                if done:
                    return {k: v[0] for k, v in self._cards.items()}
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    want = approval_ids if isinstance(approval_ids, int) else len(approval_ids)
                    raise TimeoutError(f"cards posted: {len(have)}, waiting for {want}")
                self._lock.wait(remaining)

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.messages[(channel, ts)])

    def methods(self) -> list[str]:
        return [c.method for c in self.calls()]

    def thread(self, channel: str, root_ts: str) -> list[dict[str, Any]]:
        """Replies in a thread, oldest first (the root excluded)."""
        with self._lock:
            return [m for (ch, ts), m in sorted(self.messages.items(), key=lambda kv: kv[0][1])
                    if ch == channel and m.get("thread_ts") == root_ts and ts != root_ts]

    # -- the server --------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        at = time.monotonic()
        parsed = urlparse(request.path)
        method = parsed.path.rstrip("/").rsplit("/", 1)[-1]
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(parse_qsl(parsed.query))
        ctype = request.headers.get("Content-Type") or ""
        if raw and "json" in ctype:
            with contextlib.suppress(ValueError):
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
            self._calls.append(SlackCall(method, params, token, at))
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
            headers: dict[str, str] = {}
            if failure is not None:
                if failure.applied:
                    self._answer(method, params, at)
                status, body = failure.status, {"ok": False, "error": failure.error}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
            elif token != self.token:
                status, body = 200, {"ok": False, "error": "invalid_auth"}
            else:
                status = 200
                body = self._answer(method, params, at)
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

    def _answer(self, method: str, p: dict[str, Any], at: float) -> dict[str, Any]:
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
            approval_id = approval_of(message["blocks"])
            if approval_id and approval_id not in self._cards:
                self._cards[approval_id] = (at, p["channel"], ts)
            return {"ok": True, "channel": p["channel"], "ts": ts, "message": message}
        if method in ("conversations.history", "conversations.replies"):
            channel, parent = str(p.get("channel")), str(p.get("ts") or "")
            found = [m for (c, _), m in self.messages.items() if c == channel and (
                m["ts"] == parent or m.get("thread_ts") == parent if parent
                else m.get("thread_ts") in (None, m["ts"]))]
            found.sort(key=lambda m: float(m["ts"]), reverse=not parent)  # history: newest first
            return {"ok": True, "messages": found[:int(p.get("limit") or 100)],
                    "has_more": False}
        if method == "chat.update":
            key = (str(p.get("channel")), str(p.get("ts")))
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key].update(text=p.get("text"), blocks=p.get("blocks") or [])
            return {"ok": True, "channel": key[0], "ts": key[1]}
        if method == "chat.delete":
            if self.messages.pop((str(p.get("channel")), str(p.get("ts"))), None) is None:
                return {"ok": False, "error": "message_not_found"}
            return {"ok": True, "channel": p.get("channel"), "ts": p.get("ts")}
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
        if method.startswith("assistant.threads."):
            if not p.get("channel_id"):
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True}
        if method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
            return self._stream(method, p)
        return {"ok": False, "error": "unknown_method"}

    def _stream(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        """A streamed message: started in a thread, its markdown appended, then finalized with
        the blocks that follow the text. Kept in `messages` like a posted one (`text` holds the
        markdown, `streaming` whether it is still open)."""
        if self.stream_error:
            return {"ok": False, "error": self.stream_error}
        if not p.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if method == "chat.startStream":
            if not p.get("thread_ts"):
                return {"ok": False, "error": "invalid_arguments"}
            ts = self._next_ts()
            self.messages[(p["channel"], ts)] = {
                "ts": ts, "channel": p["channel"], "text": p.get("markdown_text") or "",
                "blocks": [], "thread_ts": p["thread_ts"], "bot_id": BOT_ID, "streaming": True}
            return {"ok": True, "channel": p["channel"], "ts": ts}
        message = self.messages.get((str(p["channel"]), str(p.get("ts"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if not message.get("streaming"):
            return {"ok": False, "error": "message_not_in_streaming_state"}
        message["text"] = (message.get("text") or "") + (p.get("markdown_text") or "")
        if method == "chat.stopStream":
            message.update(blocks=p.get("blocks") or [], streaming=False)
        return {"ok": True, "channel": message["channel"], "ts": message["ts"]}


# -- reading cards -------------------------------------------------------------------------------

def buttons_of(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(e) for b in blocks or [] for e in b.get("elements") or []
            if isinstance(e, dict) and e.get("type") == "button"]


def button(blocks: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """The button on a card whose text begins with `prefix`."""
    for element in buttons_of(blocks):
        if str((element.get("text") or {}).get("text", "")).startswith(prefix):
            return element
    raise LookupError(f"no button beginning with {prefix!r}")


def approval_of(blocks: list[dict[str, Any]]) -> str | None:
    """The approval id carried by a card's Approve button, if the message is a card."""
    try:
        value = json.loads(button(blocks, APPROVE_PREFIX).get("value") or "")
        return str(value["approval_id"])
    except (LookupError, ValueError, KeyError, TypeError):
        return None
