"""Call an ASGI app directly, the way a server would, and see how much of the body it pulled.

HTTP clients (TestClient, httpx) send the whole body before anyone can tell whether the app
read it; here the body is handed over one chunk per `receive()`, and the answer says how many
chunks the app asked for. No `Content-Length` in `headers` means a chunked body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int

    def json(self) -> Any:
        return json.loads(self.body)


def call(app: Any, method: str, path: str, *, headers: dict[str, str] | None = None,
         chunks: Iterable[bytes] = (), query: str = "") -> Answer:
    """One request through `app` in a fresh event loop (see `acall`)."""
    return asyncio.run(acall(app, method, path, headers=headers, chunks=chunks, query=query))


async def acall(app: Any, method: str, path: str, *, headers: dict[str, str] | None = None,
                chunks: Iterable[bytes] = (), query: str = "") -> Answer:
    """One request: `chunks` are the body's pieces (`more_body` until the last)."""
    pieces = list(chunks) or [b""]
    pulled = 0
    done = asyncio.Event()
    start: dict[str, Any] = {}
    body = bytearray()

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(pieces):
            pulled += 1
            return {"type": "http.request", "body": pieces[pulled - 1],
                    "more_body": pulled < len(pieces)}
        await done.wait()  # the server sends this once the answer is out
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    # Values go out as a client writes them (UTF-8); servers hand them on as bytes.
    raw = [(k.lower().encode("latin-1"), v.encode()) for k, v in (headers or {}).items()]
    raw.append((b"host", b"testserver"))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "root_path": "", "headers": raw,
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {}}
    await app(scope, receive, send)
    answer_headers = {k.decode("latin-1"): v.decode("latin-1")
                      for k, v in start.get("headers", [])}
    # `pulled` is 0 when the app answered from the headers alone.
    return Answer(int(start.get("status", 0)), answer_headers, bytes(body), pulled)
