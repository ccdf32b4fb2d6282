"""A local OpenAI-compatible server for the bench and the drills (loopback only).

It answers `POST /v1/chat/completions` the way the OpenAI API does for structured output: the
assistant message's `content` is the JSON object the `response_format` schema asks for (here a
draft's `subject` and `body`), so the product's real `ModelDrafter` (ChatOpenAI, openai SDK,
httpx) runs end to end. It also answers `POST /v1/embeddings` and `GET /v1/models`.

Knobs, all changeable while it runs:

- `latency`: seconds each chat completion takes (the "model time" the bench subtracts).
- `fail(mode, seconds=..., times=...)`: answer with `429`, `500`, `garbage` (200 with content
  that is not JSON), `timeout` (hang past the client's timeout), `length` (finish_reason
  `length`), `refusal`, or `cycle` (those failure kinds in turn) for a while or a number of calls.
- `obey_injections`: write the draft the way a model that follows every instruction found in
  its prompt would: instructions in the lead's data or the rep's instruction copied in, with
  every address, link and name they ask for ("send to ...", "include https://...", "mention
  Jane Doe"), and the rep's style examples copied nearly verbatim (the few-shot over-copying
  that would carry another lead's details into this draft if the examples held any).

Every call is recorded with when it arrived, when it was answered, the lead it was about and the
messages as sent, so a bench can measure model time per lead and count prompt tokens exactly.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.model_replies import completion, draft_reply, lead_of, vector

FAILURE_MODES = ("429", "500", "garbage", "timeout", "length", "refusal")
CYCLE = ("429", "500", "garbage", "timeout")

@dataclass
class ModelCall:
    """One chat completion as the fake saw it."""

    received_at: float  # time.monotonic()
    answered_at: float | None
    lead_id: str | None
    messages: list[dict[str, Any]]
    outcome: str  # "ok" or the failure mode answered
    request: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def model_time(self) -> float:
        return (self.answered_at or self.received_at) - self.received_at

    @property
    def prompt_text(self) -> str:
        return "\n".join(str(m.get("content") or "") for m in self.messages)


@dataclass
class _Failure:
    mode: str
    until: float | None  # monotonic deadline, or None
    remaining: int | None  # calls left, or None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a burst of 100+ concurrent drafts must not hit the backlog


class FakeOpenAI:
    """`with FakeOpenAI(latency=0.5) as model: ... model.url ... model.calls()`."""

    def __init__(self, *, latency: float = 0.0, host: str = "127.0.0.1", port: int = 0,
                 hang_seconds: float = 120.0, embedding_dim: int = 256) -> None:
        self.latency = latency
        self.hang_seconds = hang_seconds
        self.embedding_dim = embedding_dim
        self.obey_injections = False
        self._host, self._port = host, port
        self._lock = threading.Condition()
        self._calls: list[ModelCall] = []
        self._failures: list[_Failure] = []
        self._cycle = itertools.cycle(CYCLE)
        self._stopping = threading.Event()
        self._server: _Server | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects
            # Headers and body go out in two writes; with Nagle on, the second waits for the
            # client's delayed ACK (~40 ms on Linux), time a real API does not add.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server((self._host, self._port), Handler)
        threading.Thread(target=self._server.serve_forever, name="fake-openai",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The value for OPENAI_BASE_URL."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    # -- knobs -------------------------------------------------------------------------------

    def fail(self, mode: str, *, seconds: float | None = None, times: int | None = None) -> None:
        """Answer chat completions with `mode` for `seconds` and/or `times` calls (else until
        `recover()`)."""
        if mode not in FAILURE_MODES and mode != "cycle":
            raise ValueError(f"unknown failure mode {mode!r}")
        until = time.monotonic() + seconds if seconds is not None else None
        with self._lock:
            self._failures.append(_Failure(mode, until, times))

    def recover(self) -> None:
        with self._lock:
            self._failures.clear()

    # -- what callers ask --------------------------------------------------------------------

    def calls(self, lead_id: str | None = None) -> list[ModelCall]:
        with self._lock:
            return [c for c in self._calls if lead_id is None or c.lead_id == lead_id]

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def wait_for_calls(self, count: int, timeout: float = 30.0) -> list[ModelCall]:
        """Block until `count` chat completions have *arrived* (answered or not)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._calls) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} model calls, saw {len(self._calls)}")
                self._lock.wait(remaining)
            return list(self._calls)

    def model_time_by_lead(self) -> dict[str, float]:
        """Seconds the fake spent answering each lead's calls (summed; retries included)."""
        out: dict[str, float] = {}
        for call in self.calls():
            if call.lead_id and call.answered_at is not None:
                out[call.lead_id] = out.get(call.lead_id, 0.0) + call.model_time
        return out

    # -- the server --------------------------------------------------------------------------

    def _current_failure(self) -> str | None:
        now = time.monotonic()
        with self._lock:
            live: list[_Failure] = []
            for failure in self._failures:
                expired = (failure.until is not None and now >= failure.until) or (
                    failure.remaining is not None and failure.remaining <= 0)
                if not expired:
                    live.append(failure)
            self._failures = live
            if not live:
                return None
            failure = live[0]
            if failure.remaining is not None:
                failure.remaining -= 1
            return next(self._cycle) if failure.mode == "cycle" else failure.mode

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        received = time.monotonic()
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        path = request.path.split("?", 1)[0].rstrip("/")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        if path.endswith("/models"):
            self._send(request, 200, {"object": "list", "data": [
                {"id": "fake-model", "object": "model", "owned_by": "hitl-bench"}]})
        elif path.endswith("/embeddings"):
            self._send(request, 200, self._embeddings(body))
        elif path.endswith("/chat/completions"):
            self._chat(request, body, received)
        else:
            self._send(request, 404, {"error": {"message": f"no route {path}",
                                                "type": "invalid_request_error"}})

    def _chat(self, request: BaseHTTPRequestHandler, body: dict[str, Any],
              received: float) -> None:
        messages = body.get("messages") or []
        lead_id, lead_data = lead_of(messages)
        call = ModelCall(received_at=received, answered_at=None, lead_id=lead_id,
                         messages=messages, outcome="ok", request=body)
        with self._lock:
            self._calls.append(call)
            self._lock.notify_all()
        failure = self._current_failure()
        call.outcome = failure or "ok"
        if failure == "timeout":
            self._stopping.wait(self.hang_seconds)  # the client gives up first
            call.answered_at = time.monotonic()
            with _suppress_disconnect():
                self._send(request, 504, {"error": {"message": "upstream timeout"}})
            return
        if self.latency > 0:
            self._stopping.wait(self.latency)
        if failure == "429":
            status, payload = 429, {"error": {"message": "Rate limit reached",
                                              "type": "rate_limit_error", "code": "rate_limit"}}
            headers = {"retry-after": "0"}
        elif failure == "500":
            status, payload = 500, {"error": {"message": "The server had an error",
                                              "type": "server_error"}}
            headers = {}
        else:
            status, headers = 200, {}
            if failure == "garbage":
                content: str | None = "Sure! Here is your email: {subject: oops"
            elif failure == "refusal":
                content = None
            else:
                draft = draft_reply(messages, lead_data, obey_injections=self.obey_injections)
                content = json.dumps(draft)
            payload = completion(body, content, finish="length" if failure == "length"
                                  else "stop", refusal="I can't help with that."
                                  if failure == "refusal" else None)
        call.answered_at = time.monotonic()
        with _suppress_disconnect():
            self._send(request, status, payload, headers)

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input") or []
        if isinstance(inputs, str):
            inputs = [inputs]
        data = [{"object": "embedding", "index": i, "embedding": vector(str(text),
                                                                          self.embedding_dim)}
                for i, text in enumerate(inputs)]
        return {"object": "list", "data": data, "model": body.get("model") or "fake",
                "usage": {"prompt_tokens": 0, "total_tokens": 0}}

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)


class _suppress_disconnect:  # noqa: N801 - used like contextlib.suppress
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return isinstance(exc, ConnectionError | BrokenPipeError | OSError)
