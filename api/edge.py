"""The HTTP edge: what every request passes before FastAPI reads it.

A pure ASGI middleware, in this order:

1. **Authenticate before reading.** A `/v1/*` request that carries a body must present an
   accepted bearer token first (401, body unread): FastAPI reads and parses a body before it
   runs any dependency, `require_token` included. The service token is compared in memory; a
   personal token is looked up in the in-memory set of active tokens' hashes
   (service.personal_tokens.ActiveTokens, reloaded in a thread, never blocking the loop), and
   `require_token` checks it against the database again (revoked: refused at once).
   Customer-side requests, which hold a conversation token instead (`?token=`, or the
   rating's body), may send a small body that their route checks. A Slack delivery must
   carry a well-formed, fresh
   `X-Slack-Request-Timestamp` and a `v0=` signature (401 otherwise), and its signature is
   verified on the bytes before Bolt parses them. `/metrics` and `/docs` need the bearer
   token unless `HITL_METRICS_PUBLIC` / `HITL_DOCS_PUBLIC`.
2. **Bounded bodies.** A declared `Content-Length` over the limit is refused at once (413);
   a chunked body is read only up to the limit, and must arrive within `BODY_READ_S` in all
   (408): a body sent a few bytes at a time would otherwise hold its buffer, and a
   connection, for as long as the sender likes (uvicorn has no such timeout). The app then
   gets the buffered body.
3. **Route families.** Requests are sorted into families (support turns, ingestion, Slack,
   reads, other actions, ops); each family has its own bound of requests in the app at once
   and a short queue with a short wait; beyond that the answer is 429 with `Retry-After`, so
   one family saturating (support turns waiting on the model) can never starve another, and
   nothing hangs. `/healthz` and `/readyz` belong to no family: they are answered on the
   event loop (async routes) and never wait.

AnyIO's thread pool, where FastAPI runs sync routes, is sized to the sum of the bounds, so an
admitted request always finds a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import BEARER_REFUSAL, bearer_accepted
from service import personal_tokens
from service.runtime import AppRuntime

if TYPE_CHECKING:
    from config.settings import Settings

Family = Literal["support", "ingest", "slack", "reads", "actions", "ops"]
FAMILIES: tuple[Family, ...] = ("support", "ingest", "slack", "reads", "actions", "ops")
UNGATED = frozenset({"/healthz", "/readyz"})
DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")
QUEUE_FACTOR = 3
# The longest a request's body may take to arrive (a megabyte over a slow phone link takes a
# few seconds; Slack gives its deliveries 3 s in all).
BODY_READ_S = 30.0
# A customer message is at most 4,000 characters: 32 KiB holds it even fully \u-escaped.
CUSTOMER_MAX_BODY = 32 * 1024

_SUPPORT_TURN = re.compile(r"^/v1/conversations/[^/]+/messages$")
# The contract's rating carries the conversation token in its body (`{"score", "token"}`).
_BODY_CREDENTIAL = re.compile(r"^/v1/conversations/[^/]+/rating$")


def family_of(method: str, path: str) -> Family | None:
    """The route family a request belongs to; None for liveness and readiness (never gated)."""
    if path in UNGATED:
        return None
    if path.startswith("/slack/"):
        return "slack"
    if path.startswith("/hooks/") or (path == "/v1/events" and method == "POST"):
        return "ingest"
    if path.startswith("/v1/"):
        if method == "POST" and _SUPPORT_TURN.match(path):
            return "support"
        return "reads" if method in ("GET", "HEAD") else "actions"
    return "ops"


@dataclass(frozen=True)
class Bound:
    """One family's bound: `limit` requests in the app, `queue` more waiting `wait_s` at most."""

    limit: int
    queue: int
    wait_s: float


def bounds_from(settings: Settings) -> dict[Family, Bound]:
    """Each family's bound from the settings. Three times as many may wait as may run: a
    burst then queues here for the next free slot (no more than the wait) instead of bouncing
    back and leaving slots idle while refused clients sit out their Retry-After (in the bench's
    200-message burst: fewer 429s, and the burst answered sooner than with a queue of 1x)."""
    limits: dict[Family, int] = {
        "support": settings.http_support_concurrency,
        "ingest": settings.http_ingest_concurrency,
        "slack": settings.http_slack_concurrency,
        "reads": settings.http_reads_concurrency,
        "actions": settings.http_actions_concurrency,
        "ops": settings.http_ops_concurrency,
    }
    wait = settings.http_queue_wait_s
    # Slack gives up on an ack after 3 s; a quick 429 (Slack retries) beats a late answer.
    return {f: Bound(n, QUEUE_FACTOR * n, min(wait, 1.0) if f == "slack" else wait)
            for f, n in limits.items()}


class Gate:
    """Admission for one family on one event loop (uvicorn runs one per process).

    A request is admitted while fewer than `limit` are inside; otherwise it waits in a FIFO
    of at most `queue` for up to `wait_s`, and is handed a slot as one leaves. A request that
    finds the queue full, or waits too long, is refused."""

    def __init__(self, family: Family, bound: Bound) -> None:
        self.family = family
        self.bound = bound
        self.active = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def retry_after_s(self) -> int:
        """Seconds a refused client should wait before trying again."""
        return max(1, math.ceil(self.bound.wait_s))

    async def enter(self) -> bool:
        """Take a slot (True) or be refused (False). Pair every True with `leave()`."""
        if self.active < self.bound.limit and not self._waiting:
            self.active += 1
            return True
        if len(self._waiting) >= self.bound.queue or self.bound.wait_s <= 0:
            return False
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(slot)
        try:
            async with asyncio.timeout(self.bound.wait_s):
                await slot
            return True
        except TimeoutError:
            if slot.done() and not slot.cancelled():
                return True  # handed a slot just as the wait ran out: take it
            self._forget(slot)
            return False
        except asyncio.CancelledError:  # the client went away while waiting
            if slot.done() and not slot.cancelled():
                self.leave()
            else:
                self._forget(slot)
            raise

    def leave(self) -> None:
        """Give the slot to the next waiter, or free it."""
        while self._waiting:
            slot = self._waiting.popleft()
            if not slot.done():
                slot.set_result(None)  # `active` is unchanged: the slot changes hands
                return
        self.active -= 1

    def _forget(self, slot: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):  # already handed over and popped
            self._waiting.remove(slot)


class SlackCheck(Protocol):
    """Slack's request verification, split so the edge can refuse before reading the body."""

    def refuse_headers(self, headers: Mapping[str, str]) -> str | None:
        """Why the headers alone are refused (401), or None."""
        ...

    def refuse_body(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """Why the signed body is refused (401), or None."""
        ...


class BodyTooLarge(Exception):
    pass


class Disconnected(Exception):
    pass


class Edge:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, *, rt: AppRuntime, slack: SlackCheck | None = None
                 ) -> None:
        self.app = app
        self.rt = rt
        self.slack = slack
        # The active personal tokens, in memory for this app's event loop (one per process).
        self.tokens = personal_tokens.ActiveTokens(rt)
        settings = rt.settings
        self.gates = {f: Gate(f, b) for f, b in bounds_from(settings).items()}
        self.threads_needed = sum(b.limit for b in bounds_from(settings).values())
        self.max_body = settings.max_body_bytes
        self.slack_max_body = settings.slack_max_body_bytes
        self.metrics_public = settings.metrics_public
        self.docs_public = settings.docs_public
        self.refusals = _refusal_counter(rt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        family = family_of(method, path)
        if family is None:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"

        # 1. Who is asking, from the headers alone.
        limit = self.max_body
        if path.startswith("/slack/") and self.slack is not None:
            limit = self.slack_max_body
            reason = self.slack.refuse_headers(headers)
            if reason is not None:
                await self._refuse(send, family, 401, reason)
                return
        elif self._needs_bearer(path, has_body) and not await bearer_accepted(
                self.rt, self.tokens, _bearer(headers)):
            if not self._customer_credential(method, path, scope):
                await self._refuse(send, family, 401, BEARER_REFUSAL,
                                   {"WWW-Authenticate": "Bearer"})
                return
            limit = CUSTOMER_MAX_BODY

        # 2. The body, bounded: a declared length is judged before a byte is read.
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(send, family, 400, "malformed Content-Length")
                return
            if int(declared) > limit:
                await self._too_large(send, family, limit)
                return
        try:
            async with asyncio.timeout(BODY_READ_S):
                body = await _read_body(receive, limit)
        except BodyTooLarge:
            await self._too_large(send, family, limit)
            return
        except Disconnected:
            return
        except TimeoutError:
            await self._refuse(send, family, 408,
                               f"request body not received within {BODY_READ_S:g} s")
            return
        if path.startswith("/slack/") and self.slack is not None:
            reason = self.slack.refuse_body(headers, body)
            if reason is not None:
                await self._refuse(send, family, 401, reason)
                return

        # 3. A slot in the family's bound, or 429.
        gate = self.gates[family]
        _size_thread_pool(self.threads_needed)
        if not await gate.enter():
            await self._refuse(
                send, family, 429,
                f"too many {family} requests in progress; retry in {gate.retry_after_s} s",
                {"Retry-After": str(gate.retry_after_s)})
            return
        try:
            await self.app(scope, _replay(body, receive), send)
        finally:
            gate.leave()

    def _needs_bearer(self, path: str, has_body: bool) -> bool:
        # Bodiless /v1 reads are left to their routes: some take a conversation token or a
        # signed link in the query instead of the bearer header (and there is nothing to read).
        if path.startswith("/v1/"):
            return has_body
        if path == "/metrics":
            return not self.metrics_public
        if path.startswith(DOCS_PATHS):
            return not self.docs_public
        return False

    @staticmethod
    def _customer_credential(method: str, path: str, scope: Scope) -> bool:
        """A customer-side request holding a conversation token: its route checks the token.
        In the query only for a read (`GET /v1/conversations/{id}?token=`): no route that
        takes a body reads it there, and one that would refuse it must not parse first."""
        if method == "POST" and _BODY_CREDENTIAL.match(path):
            return True
        if method not in ("GET", "HEAD") or not path.startswith("/v1/conversations/"):
            return False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return bool(query.get("token", [""])[0])

    async def _too_large(self, send: Send, family: Family, limit: int) -> None:
        setting = "HITL_SLACK_MAX_BODY_BYTES" if family == "slack" else "HITL_MAX_BODY_BYTES"
        hint = "; send fewer events per batch" if family == "ingest" else ""
        await self._refuse(send, family, 413, f"request body larger than {limit:,} bytes "
                           f"({setting}){hint}")

    async def _refuse(self, send: Send, family: Family, status: int, detail: str,
                      headers: dict[str, str] | None = None) -> None:
        self.refusals.labels(family, str(status)).inc()
        content: dict[str, Any] = {"detail": detail}
        if status == 429:
            content["family"] = family
        body = json.dumps(content).encode()
        raw = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        # An unread body stays unread: the server discards it (or closes the connection).
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name (the first of repeated ones)."""
    out: dict[str, str] = {}
    for key, value in scope.get("headers", ()):
        out.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return out


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as more than `limit` bytes arrived."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body as one message, then the server's own messages (disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _size_thread_pool(needed: int) -> None:
    """Give AnyIO's default thread limiter (one per event loop) room for every family's bound,
    so an admitted request never queues for a thread behind another family."""
    import anyio.to_thread

    limiter = anyio.to_thread.current_default_thread_limiter()
    if limiter.total_tokens < needed:
        limiter.total_tokens = needed


def _refusal_counter(rt: AppRuntime) -> Any:
    """`hitl_http_refused_total{family, status}`, once per runtime's registry."""
    metrics = rt.metrics
    counter = metrics.__dict__.get("_http_refused")
    if counter is None:
        from prometheus_client import Counter

        counter = Counter("hitl_http_refused", "Requests the HTTP edge refused (401, 413, 429)",
                          ["family", "status"], registry=metrics.registry)
        metrics.__dict__["_http_refused"] = counter
    return counter
