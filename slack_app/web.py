"""Calling the Slack Web API from jobs (sync, on worker threads).

Transient failures (429 with Retry-After, 5xx, network errors, Slack's own "try again" errors)
become `RetryLater`, so the durable job queue retries with backoff and nothing is forgotten.
Anything else is a `SlackCallFailed` naming the method and Slack's error code; the queue still
retries it a few times and then parks the job where operators see it.

`call` is also where every message the app posts is recorded (`slack_app.message_log`): inside
a job run under `posting_for`, each successful `chat.postMessage` is logged with the lead or
conversation it is about, so an erasure can redact it later.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from http.client import HTTPMessage
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError

from config.http import api_client
from service.jobs import SLACK_FAILURE, RetryLater
from service.runtime import AppRuntime
from slack_app.message_log import current_context, record_post
from slack_app.text import text_blocks
from tools.tls import client_tls_context

if TYPE_CHECKING:
    # Imported where a client is built or used: the web process imports this module but never
    # calls Slack through it (README, "Performance choices": no worker engines in the web).
    import httpx

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error",
                              "service_unavailable", "request_timeout"})
# A card that was deleted in Slack (or its channel archived) cannot be updated; retrying is futile.
GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "channel_not_found",
                         "is_archived", "not_in_channel"})
API_TIMEOUT_S = 10


class SlackCallFailed(Exception):
    """Slack refused a call for a reason retrying will not fix (the code is in `error`)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack {method} failed: {error}")
        self.method = method
        self.error = error


class KeepAliveWebClient(WebClient):
    """slack_sdk's sync WebClient, its HTTP exchanges sent over kept-alive connections.

    The SDK sends each call through `urllib.request.urlopen`, which builds an opener (handlers,
    a scan of the environment for proxies) and opens a new connection every time: a TCP and, to
    slack.com, a TLS handshake per card posted or updated. Here only the exchange itself is
    replaced, at the one method the SDK funnels every request through; the SDK still builds the
    request (token, JSON body, user agent), runs its retry handlers and parses the answer. What
    urllib would raise is raised: `HTTPError` for an HTTP error status (the SDK reads 429's
    Retry-After from it), `URLError` for a network failure (its connection-error retry).
    The SDK version is pinned in the lock file; `tests/slack/test_slack_web_client.py` holds the
    contract against a local server (statuses, headers, errors, one connection for many calls).
    """

    def __init__(self, *, http: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._http = http

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if not url.lower().startswith(("https://", "http://")):
            raise SlackRequestError(f"Invalid URL detected: {url}")  # as the SDK: no file:// etc.
        # The SDK hands its body as bytes (JSON, form or multipart) and may give a header as
        # an int (a multipart upload's Content-Length), which urllib writes out with str().
        sent = req.data if isinstance(req.data, bytes) else None
        headers_out = {name: str(value) for name, value in req.header_items()}
        import httpx  # loaded by web_client() already: a lookup

        try:
            response = self._http.request(req.get_method(), url, content=sent,
                                          headers=headers_out, timeout=self.timeout)
        except httpx.TransportError as exc:  # connect, read, timeouts, a dropped connection
            raise URLError(exc) from exc
        headers = HTTPMessage()
        for name, value in response.headers.raw:  # as sent, names in their case, as urllib's
            headers[name.decode("latin-1")] = value.decode("latin-1")
        if response.status_code >= 400:
            raise HTTPError(url, response.status_code, response.reason_phrase, headers,
                            io.BytesIO(response.content))
        if headers.get_content_type() == "application/gzip":  # admin.analytics.getFile
            return {"status": response.status_code, "headers": headers, "body": response.content}
        body = response.content.decode(headers.get_content_charset() or "utf-8")
        return {"status": response.status_code, "headers": headers, "body": body}


def web_client(rt: AppRuntime) -> WebClient:
    """The sync client for SLACK_API_URL with the bot token, one per process and settings.

    Shared by the worker's threads: the SDK keeps no per-call state, and the httpx pool under
    it keeps a connection per thread alive, verified with the process's TLS context (building
    one loads the CA bundle, ~20 ms of CPU: tools/tls.py)."""
    key = (rt.settings.slack_api_url, rt.settings.slack_bot_token)
    client = _CLIENTS.get(key)
    if client is None:
        import httpx

        connections = rt.settings.outbound_connections
        http = api_client(
            verify=client_tls_context(), timeout=API_TIMEOUT_S,
            limits=httpx.Limits(max_connections=connections,
                                max_keepalive_connections=connections))
        client = _CLIENTS.setdefault(key, KeepAliveWebClient(
            http=http, token=rt.settings.slack_bot_token, base_url=rt.settings.slack_api_url,
            timeout=API_TIMEOUT_S, ssl=client_tls_context()))
    return client


# A message's updates may run on two threads (or replicas) at once: a card's decision and the
# newer version that supersedes it, a transfer's claim and its post job. Slack keeps whichever
# chat.update arrives last, so an update rendered before the other's change could land after it
# and show the message as it was. `update_until_current` renders again after each update and
# sends again if what it shows moved meanwhile: the last update to finish shows the latest state.
MAX_RENDERS = 3


def update_until_current(render: Callable[[], tuple[str, list[dict[str, Any]]] | None],
                         send: Callable[[str, list[dict[str, Any]]], None]) -> bool:
    """`send(text, blocks)` what `render()` gives (read from the store now) until a render
    matches what was sent last (at most MAX_RENDERS renders); False if `render()` gave None
    (the message's subject is gone) before anything was sent."""
    sent: tuple[str, list[dict[str, Any]]] | None = None
    for _ in range(MAX_RENDERS):
        rendered = render()
        if rendered is None:
            return sent is not None
        if rendered == sent:
            break
        send(*rendered)
        sent = rendered
    return True


def dm_channel(rt: AppRuntime, client: WebClient, slack_user: str) -> str:
    """The app's DM channel with a user (conversations.open), remembered: Slack keeps one DM
    per bot and user, so asking once per process is enough."""
    key = (rt.settings.slack_api_url, rt.settings.slack_bot_token, slack_user)
    channel = _DM_CHANNELS.get(key)
    if channel is None:
        opened = call(client.conversations_open, users=slack_user)
        channel = _DM_CHANNELS[key] = str(opened["channel"]["id"])
    return channel


_CLIENTS: dict[tuple[str, str | None], WebClient] = {}
_DM_CHANNELS: dict[tuple[str, str | None, str], str] = {}


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def call(method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    """Run one Web API method (e.g. `client.chat_postMessage`) and return its data."""
    data = call_unlogged(method, **kwargs)
    if data.get("ts") and _name(method) == "chat.postMessage":
        _record(kwargs, data)
    return data


def _name(method: Callable[..., Any]) -> str:
    return getattr(method, "__name__", "slack call").replace("_", ".", 1)


# Every message goes out with blocks: one given as text alone is shown from verbatim sections
# (`text_blocks`), never from its top-level text, which Slack auto-links.
_MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.update"})


def call_unlogged(method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    """`call` without logging the posted message: for a job that logs it itself, in the
    same transaction as its own record of the post (`message_log.record_post_on`)."""
    name = _name(method)
    if name in _MESSAGE_METHODS and kwargs.get("text") and not kwargs.get("blocks"):
        kwargs = {**kwargs, "blocks": text_blocks(kwargs["text"])}
    try:
        response = method(**kwargs)
    except SlackApiError as exc:
        status = int(getattr(exc.response, "status_code", 200) or 200)
        data = getattr(exc.response, "data", None)
        error = str((data if isinstance(data, dict) else {}).get("error") or f"http_{status}")
        if status == 429 or status >= 500 or error in TRANSIENT_ERRORS:
            retry = RetryLater(f"Slack {name}: {error} (HTTP {status})")
            # Honoured by the job queue when it supports it; the backoff applies otherwise.
            retry.retry_after = _retry_after(exc.response)
            raise _slacks(retry) from exc
        raise _slacks(SlackCallFailed(name, error)) from exc
    except (SlackClientError, OSError, TimeoutError) as exc:  # network, DNS, TLS, timeouts
        raise _slacks(RetryLater(f"Slack {name} unreachable: {type(exc).__name__}")) from exc
    return dict(response.data) if isinstance(response.data, dict) else {}


def _slacks(error: Exception) -> Exception:
    """`error`, marked as Slack's doing (`service.jobs.from_slack`): a job's watchers tell
    people Slack is not taking their card only when it is Slack that failed."""
    setattr(error, SLACK_FAILURE, True)
    return error


def _record(kwargs: dict[str, Any], data: dict[str, Any]) -> None:
    """Log a posted message for erasure. A failure here raises: the job is retried (a second
    post) rather than leaving a message about a person that nobody could find again."""
    context = current_context()
    if context is None:
        return  # not posted for a job (nothing about a person is posted outside jobs)
    thread_ts = kwargs.get("thread_ts")
    record_post(context, channel=str(data.get("channel") or kwargs.get("channel")),
                ts=str(data["ts"]), thread_ts=str(thread_ts) if thread_ts else None)
