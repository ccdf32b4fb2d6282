"""The httpx clients the app calls APIs with (the model's endpoint, Slack's Web API, the CRMs,
marketing automation, an embeddings endpoint): bounded answers and no cookie jar.

Every answer is bounded: at most `max_answer_bytes` (16 MiB unless the caller says), and its body
within the read timeout in all, not only between two bytes. An outside service is outside our
control: an answer that never ends (one byte every few seconds keeps httpx's per-read timeout
from ever firing) held a worker thread for good, and one that never stops (or a small gzip that
unpacks to gigabytes: httpx unpacks whatever it is sent) took the worker's memory. The clients
ask for answers unencoded (`Accept-Encoding: identity`), so the bytes counted are the bytes
kept; an answer encoded anyway is refused, as what we cannot bound. Either failure is an
`httpx.TransportError` (`AnswerRefused`, or `httpx.ReadTimeout`), which every caller already
treats as the service failing: retried within its budget, then parked.

An API client authenticates with its key or token on every request; a cookie an API answer sets
(a CDN's bot-management cookie, a load balancer's affinity) is not ours to keep and send back.
httpx's client keeps every response's cookies in a jar all threads share, and reading them costs
more than the exchange itself: it wraps each request and response in urllib's cookie-compatible
objects and scans every header once per header (about 5% of a hand-raise's CPU in py-spy, more
than httpx's transport). These clients keep no cookies: a cookie set by a response is dropped,
and none is ever sent. httpx is imported by the caller's first client, not by this module.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a draft is a few KB, a CRM page of records a few hundred


def _now() -> float:
    """The clock an answer's deadline is kept on (a test moves it)."""
    return time.monotonic()


@cache
def _classes() -> tuple[type, type, type]:
    from http.cookiejar import Cookie, CookieJar

    import httpx

    class AnswerRefused(httpx.TransportError):
        """An answer larger than the client reads, or encoded though we asked for none."""

    def _refuse_encoded(response: httpx.Response) -> None:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise AnswerRefused(f"{response.request.url.host} answered with Content-Encoding "
                                f"{encoding}, though asked for none", request=response.request)

    class _Bounded:
        """Byte-counting and deadline-keeping around a response's stream (sync or async)."""

        def __init__(self, stream: Any, request: httpx.Request, limit: int,
                     seconds: float) -> None:
            self._stream, self._request, self._limit = stream, request, limit
            self._seconds, self._deadline, self._received = seconds, _now() + seconds, 0

        def _count(self, chunk: bytes) -> bytes:
            self._received += len(chunk)
            if self._received > self._limit:
                raise AnswerRefused(f"{self._request.url.host} answered more than "
                                    f"{self._limit:,} bytes", request=self._request)
            if _now() > self._deadline:
                raise httpx.ReadTimeout(f"{self._request.url.host} took over {self._seconds:g} s "
                                        "to answer in all", request=self._request)
            return chunk

    class _BoundedStream(_Bounded, httpx.SyncByteStream):
        def __iter__(self) -> Any:
            for chunk in self._stream:
                yield self._count(chunk)

        def close(self) -> None:
            self._stream.close()

    class _AsyncBoundedStream(_Bounded, httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            async for chunk in self._stream:
                yield self._count(chunk)

        async def aclose(self) -> None:
            await self._stream.aclose()

    class _NoJar(CookieJar):
        """Stores nothing, however a cookie reaches it (`set`, `update`, `jar.set_cookie`)."""

        def set_cookie(self, cookie: Cookie) -> None:
            return None

    class _NoCookies(httpx.Cookies):
        """Always empty (so httpx sends no Cookie header); what a response sets is dropped
        before urllib's cookie objects are built for it."""

        def __init__(self) -> None:
            super().__init__(_NoJar())

        def extract_cookies(self, response: httpx.Response) -> None:
            return None

    class Cookieless:
        """Mixed into httpx's clients: `cookies` is always the empty jar, and setting it is
        ignored (httpx reads `self.cookies` to send and to store)."""

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self._no_cookies = _NoCookies()

        @property
        def cookies(self) -> httpx.Cookies:
            return self._no_cookies

        @cookies.setter
        def cookies(self, cookies: Any) -> None:
            return None

    def _options(options: dict[str, Any], hook: Any) -> dict[str, Any]:
        headers = httpx.Headers(options.pop("headers", None))
        headers["Accept-Encoding"] = "identity"
        hooks = dict(options.pop("event_hooks", None) or {})
        hooks["response"] = [*hooks.get("response", ()), hook]
        return {**options, "headers": headers, "event_hooks": hooks}

    def _seconds(response: httpx.Response) -> float:
        """The read timeout the request was sent with (a caller may set one per request, as
        the OpenAI SDK does), for the whole body."""
        read = response.request.extensions.get("timeout", {}).get("read")
        return read if read is not None else 300.0

    class CookielessClient(Cookieless, httpx.Client):
        def __init__(self, *, max_answer_bytes: int = MAX_ANSWER_BYTES, **options: Any) -> None:
            def bound(response: httpx.Response) -> None:
                _refuse_encoded(response)
                response.stream = _BoundedStream(response.stream, response.request,
                                                 max_answer_bytes, _seconds(response))

            super().__init__(**_options(options, bound))

    class AsyncCookielessClient(Cookieless, httpx.AsyncClient):
        def __init__(self, *, max_answer_bytes: int = MAX_ANSWER_BYTES, **options: Any) -> None:
            async def bound(response: httpx.Response) -> None:
                _refuse_encoded(response)
                response.stream = _AsyncBoundedStream(response.stream, response.request,
                                                      max_answer_bytes, _seconds(response))

            super().__init__(**_options(options, bound))

    return CookielessClient, AsyncCookielessClient, AnswerRefused


def api_client(**options: Any) -> Any:
    """An `httpx.Client(**options)` that keeps no cookies and reads bounded answers (module
    docstring); `max_answer_bytes` sets the bound."""
    return _classes()[0](**options)


def async_api_client(**options: Any) -> Any:
    """An `httpx.AsyncClient(**options)`, as `api_client`."""
    return _classes()[1](**options)


def answer_refused() -> type:
    """The error a too large or encoded answer raises (an `httpx.TransportError`)."""
    return _classes()[2]
