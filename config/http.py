"""The httpx clients the app calls APIs with (the model's endpoint, Slack's Web API): no cookie jar.

An API client authenticates with its key or token on every request; a cookie an API answer sets
(a CDN's bot-management cookie, a load balancer's affinity) is not ours to keep and send back.
httpx's client keeps every response's cookies in a jar all threads share, and reading them costs
more than the exchange itself: it wraps each request and response in urllib's cookie-compatible
objects and scans every header once per header (about 5% of a hand-raise's CPU in py-spy, more
than httpx's transport). These clients keep no cookies: a cookie set by a response is dropped,
and none is ever sent. httpx is imported by the caller's first client, not by this module.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _classes() -> tuple[type, type]:
    from http.cookiejar import Cookie, CookieJar

    import httpx

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

    class CookielessClient(Cookieless, httpx.Client):
        pass

    class AsyncCookielessClient(Cookieless, httpx.AsyncClient):
        pass

    return CookielessClient, AsyncCookielessClient


def api_client(**options: Any) -> Any:
    """An `httpx.Client(**options)` that keeps no cookies."""
    return _classes()[0](**options)


def async_api_client(**options: Any) -> Any:
    """An `httpx.AsyncClient(**options)` that keeps no cookies."""
    return _classes()[1](**options)
