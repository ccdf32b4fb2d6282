"""The Bolt app and its place in the FastAPI app.

HTTP mode: Slack posts events and interactivity to `POST /slack/events`, verified by Bolt
(signature and the 5-minute window; 401 otherwise). Socket Mode: when `SLACK_APP_TOKEN` is set,
a websocket is held open for the app's lifetime (`app.state.slack_lifespan`). Both feed the same
listeners. Every Web API call goes to `SLACK_API_URL` with the bot token.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from service.runtime import AppRuntime
from slack_app.ack_budget import stamp_arrival
from slack_app.assistant.listeners import register_assistant
from slack_app.listeners import register
from slack_app.support.listeners import register_support

log = logging.getLogger(__name__)
bolt_log = logging.getLogger("slack_app.bolt")


class _NoWarningAboutTheEnvironmentsToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when it is given a client, then
    warns at every start that the token "will be unused", which reads as a misconfiguration.
    It is the same token, and what our client sends: `authorize` hands it to each request."""

    def filter(self, record: logging.LogRecord) -> bool:
        from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

        return record.getMessage() != warning_client_prioritized_and_token_skipped()


bolt_log.addFilter(_NoWarningAboutTheEnvironmentsToken())


def build_bolt_app(rt: AppRuntime, identity: BotIdentity) -> AsyncApp:
    """A Bolt AsyncApp whose client talks to `settings.slack_api_url`, listeners registered."""
    settings = rt.settings

    async def authorize() -> AuthorizeResult:  # Bolt passes arguments by their names: none
        return await identity.authorize()

    bolt = AsyncApp(
        name="hitl-handoff",
        # No token here: each request's client gets the bot token from `authorize`.
        client=AsyncWebClient(base_url=settings.slack_api_url, timeout=10),
        authorize=authorize,
        signing_secret=settings.slack_signing_secret or "",
        # Without a signing secret only Socket Mode runs; no HTTP route is mounted then.
        request_verification_enabled=bool(settings.slack_signing_secret),
        # Ack first, work after: Bolt answers Slack as soon as a listener calls ack().
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        logger=bolt_log,
    )
    # Before any listener: Slack's answer is budgeted from here (slack_app.ack_budget).
    bolt.middleware(stamp_arrival)
    # Support first: Bolt runs the first matching listener, and the approval `message`
    # listener would otherwise take the transfer cards' threads too.
    register_support(bolt, rt)
    # The assistant before the approvals: DM messages outside card threads are its own.
    register_assistant(bolt, rt)
    register(bolt, rt)
    return bolt


class BotIdentity:
    """Who the bot is (`auth.test`), asked of Slack once per process, for Bolt's `authorize`.

    Bolt's built-in single-workspace authorization asks on the first request it sees, and every
    request arriving before the answer asks too: the first burst of 50 clicks after a start
    made 50 auth.test calls and waited on them (the bench's first Slack burst was ~40 ms
    slower than the next). Here one call is in flight at a time, and `hitl serve` asks at
    startup (`prefetch`), so no click waits on it; a failure is retried on the next request.
    Why it is kept: README, "Performance choices"."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._result: AuthorizeResult | None = None
        self._lock = asyncio.Lock()  # bound to the serving loop at its first use

    async def authorize(self) -> AuthorizeResult:
        if self._result is None:
            async with self._lock:
                if self._result is None:
                    self._result = AuthorizeResult.from_auth_test_response(
                        auth_test_response=await self.client.auth_test(),
                        bot_token=self.client.token)
        return self._result

    async def prefetch(self) -> None:
        try:
            await self.authorize()
        except Exception:  # Slack unreachable or the token refused: the first request retries
            log.warning("Slack auth.test failed at startup; retrying on the first request",
                        exc_info=True)


def bot_identity(rt: AppRuntime) -> BotIdentity:
    if not rt.settings.slack_bot_token:
        raise ValueError("the Slack surface needs SLACK_BOT_TOKEN")
    return BotIdentity(AsyncWebClient(token=rt.settings.slack_bot_token,
                                      base_url=rt.settings.slack_api_url, timeout=10))


def socket_mode_lifespan(bolt: AsyncApp, app_token: str
                         ) -> Callable[[], AbstractAsyncContextManager[None]]:
    """An async context manager factory holding a Socket Mode connection while the app runs."""

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(bolt, app_token)
        await handler.connect_async()
        log.info("Slack Socket Mode connected")
        try:
            yield
        finally:
            await handler.close_async()

    return lifespan


class SlackRequestCheck:
    """Slack's request verification as the HTTP edge (api.edge) applies it, before Bolt.

    Bolt parses a body before its own verification runs, and a timestamp that is not an
    integer ("abc", "", "1e999") made it answer 500. Here the headers are judged before the
    body is read (well-formed, within Slack's 5-minute window), then the signature on the raw
    bytes; Bolt verifies again behind this."""

    TIMESTAMP = re.compile(r"[0-9]{1,12}")
    SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
    WINDOW_S = 5 * 60

    def __init__(self, signing_secret: str, now: Callable[[], float] = time.time) -> None:
        self.verifier = SignatureVerifier(signing_secret)
        self.now = now

    def refuse_headers(self, headers: Mapping[str, str]) -> str | None:
        """Why a request is refused from its headers alone, or None."""
        timestamp = headers.get("x-slack-request-timestamp", "")
        if not self.TIMESTAMP.fullmatch(timestamp):
            return "missing or malformed X-Slack-Request-Timestamp"
        if abs(self.now() - int(timestamp)) > self.WINDOW_S:
            return "X-Slack-Request-Timestamp is outside the 5-minute window"
        if not self.SIGNATURE.fullmatch(headers.get("x-slack-signature", "")):
            return "missing or malformed X-Slack-Signature"
        return None

    def refuse_body(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """Why the signature does not match the body, or None (headers already checked)."""
        timestamp = headers["x-slack-request-timestamp"]
        try:
            expected = self.verifier.generate_signature(timestamp=timestamp, body=body)
        except UnicodeDecodeError:  # Slack sends UTF-8; anything else is not from Slack
            return "invalid Slack signature"
        if expected is None or not hmac.compare_digest(expected, headers["x-slack-signature"]):
            return "invalid Slack signature"
        return None


def mount_slack(app: FastAPI, rt: AppRuntime) -> AsyncApp:
    """Mount `POST /slack/events` (HTTP mode) and/or set up Socket Mode on a FastAPI app."""
    identity = bot_identity(rt)
    bolt = build_bolt_app(rt, identity)
    app.state.slack_bolt = bolt
    app.state.slack_identity = identity
    if rt.settings.slack_signing_secret:
        app.state.slack_request_check = SlackRequestCheck(rt.settings.slack_signing_secret)
        handler = AsyncSlackRequestHandler(bolt)

        async def slack_events(request: Request) -> Response:
            return await handler.handle(request)

        app.add_api_route("/slack/events", slack_events, methods=["POST"],
                          include_in_schema=True, tags=["slack"],
                          summary="Slack events and interactivity (signed by Slack)")
    if rt.settings.slack_app_token:
        app.state.slack_lifespan = socket_mode_lifespan(bolt, rt.settings.slack_app_token)
    return bolt
