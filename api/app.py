"""The FastAPI application, built by `create_app(runtime)`; no import-time singletons."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import iter_route_contexts
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import require_token
from api.edge import Edge
from api.routers import approvals, conversations, customers, events, leads, operations, reports
from service.errors import InvalidInput, ServiceError
from service.runtime import AppRuntime


def _field(loc: tuple[Any, ...]) -> str:
    """What a validation error names: the body's or query's field as sent, a header by its
    HTTP name (FastAPI reports `("header", "idempotency-key")`; the client sent
    `Idempotency-Key`)."""
    parts = [str(p) for p in loc]
    if len(parts) == 2 and parts[0] == "header":
        return "-".join(word.capitalize() for word in parts[1].split("-"))
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    return ".".join(parts) or "body"


DOCS_ASSETS = "/docs/assets"


def create_app(rt: AppRuntime, *, worker: Any = None, readiness: Any = None) -> FastAPI:
    """The app; `readiness` (service.readiness.Readiness) must be built before any worker of
    this server starts, so `hitl serve` passes its own. Built here when not given."""
    if readiness is None:
        from service.readiness import Readiness

        readiness = Readiness(rt.db)

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        identity = getattr(application.state, "slack_identity", None)
        # In the background: startup does not wait on Slack; a click that comes first shares
        # the same single call.
        prefetch = asyncio.create_task(identity.prefetch()) if identity is not None else None
        try:
            # The Slack surface may need a long-lived connection (Socket Mode) for the app's life.
            slack_lifespan = getattr(application.state, "slack_lifespan", None)
            if slack_lifespan is not None:
                async with slack_lifespan():
                    yield
            else:
                yield
        finally:
            if prefetch is not None:
                prefetch.cancel()
            if worker is not None:
                worker.stop()

    # /docs (Swagger UI 5) and /redoc with their assets served by the app from fastapi-offline's
    # package (no CDN: the docs render with no internet). The assets live under /docs/, so the
    # edge treats them as docs: public unless HITL_DOCS_PUBLIC=false. No online validator badge.
    app = FastAPIOffline(
        title="HITL handoff assistant",
        version="0.1.0",
        description="Buying signals in; why-now packages and drafts out; humans approve.",
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.runtime = rt

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e.get("loc", ()))),
                   "message": str(e.get("msg", "")).removeprefix("Value error, ")}
                  for e in exc.errors()]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return JSONResponse(status_code=422, content={
            "detail": f"invalid request: {summary}", "errors": errors})

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        content: dict[str, Any] = {"detail": exc.message}
        if isinstance(exc, InvalidInput) and exc.field:
            content["errors"] = [{"field": exc.field, "message": exc.message}]
        return JSONResponse(status_code=exc.status, content=content)

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refuses a NUL character in text (SQLite stores it): the same request gets
        # the same clear 422 on both, and its transaction was rolled back whole.
        if "NUL" not in str(exc.orig):
            raise exc
        return JSONResponse(status_code=422, content={
            "detail": "invalid request: a value contains a NUL character (U+0000), which "
                      "cannot be stored: remove it"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail},
                            headers=getattr(exc, "headers", None))

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, Any]:
        """Liveness: the process answers. Async and outside every route family's bound (see
        api.edge), so it never waits behind work; the database is /readyz's concern."""
        return jsonable_encoder({"status": "ok", "policy_version": rt.policy.version,
                                 "drafter": "model" if rt.settings.model_endpoint_configured
                                 else "offline draft"})

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "not ready, and why"}})
    async def readyz() -> JSONResponse:
        """Readiness: 200 once migrations are done and a worker has polled the job queue since
        this server started; 503 with the reason before. Once ready, answered from memory."""
        ready, reason = True, None
        if not readiness.ready:
            from starlette.concurrency import run_in_threadpool

            # Database reads: off the event loop.
            ready, reason = await run_in_threadpool(readiness.check)
        return JSONResponse(status_code=200 if ready else 503,
                            content={"ready": ready, "reason": reason})

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        from service.stuck_work import render_stuck_work

        return PlainTextResponse(rt.metrics.render() + render_stuck_work(rt),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    def openapi() -> dict[str, Any]:
        """FastAPI's schema plus the event models `POST /v1/events` validates by hand (it
        takes one event or a batch, so its body is declared in `openapi_extra`), each event
        type described with its required properties and an example (api.openapi_events)."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi
            from pydantic.json_schema import models_json_schema

            from api.openapi_events import describe_events
            from service.schemas import EventBatchIn, EventIn

            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            _, defs = models_json_schema([(EventIn, "validation"), (EventBatchIn, "validation")],
                                         ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
            describe_events(schema)  # EventIn per `type`, with an example each
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    secured = [Depends(require_token)]
    app.include_router(events.router, prefix="/v1", dependencies=secured)
    app.include_router(leads.router, prefix="/v1", dependencies=secured)
    app.include_router(customers.router, prefix="/v1", dependencies=secured)
    app.include_router(approvals.router, prefix="/v1", dependencies=secured)
    # One approval / one handoff: the API token or a signed link from a notice email.
    app.include_router(approvals.read_router, prefix="/v1")
    app.include_router(conversations.router, prefix="/v1", dependencies=secured)
    # Reading a conversation: the API token or the conversation's own token (checked there).
    app.include_router(conversations.customer_router, prefix="/v1")
    app.include_router(conversations.handoffs_router, prefix="/v1")
    app.include_router(conversations.callbacks_router, prefix="/v1", dependencies=secured)
    from api.routers import handoffs  # support without Slack: list, claim, reply, resolve, ...
    app.include_router(handoffs.router, prefix="/v1", dependencies=secured)
    app.include_router(reports.router, prefix="/v1", dependencies=secured)
    # The KPI report: the API token or a signed, expiring link a browser opens (checked there).
    app.include_router(reports.kpi_router, prefix="/v1")
    app.include_router(operations.router, prefix="/v1", dependencies=secured)
    from api.routers import experiments  # A/B tests of drafts and thresholds (issue 19)
    app.include_router(experiments.router, prefix="/v1", dependencies=secured)
    # CRM hooks (CONTRACT 6): each authenticates its vendor's way, off until its secret is set.
    from api.routers import hooks_hubspot, hooks_salesforce, hooks_segment

    for hook in (hooks_hubspot, hooks_salesforce, hooks_segment):
        app.include_router(hook.router)
    if rt.settings.slack_enabled:
        from slack_app.app import mount_slack

        mount_slack(app, rt)
    # Outermost of ours: authenticate, bound the body and admit by route family before
    # FastAPI reads anything.
    app.add_middleware(Edge, rt=rt, slack=getattr(app.state, "slack_request_check", None))
    return app


def build_routes(app: FastAPI) -> FastAPI:
    """Build every route of `app` now rather than on the first request (`hitl serve` calls it
    before it freezes its startup objects).

    FastAPI (since 0.137) builds an included router's routes, their dependencies and models, on
    the first request that walks past them: every route in the app, for the first Slack click
    (its route is matched last), and the first burst of clicks after a start waited on it (the
    bench's Slack ack p50 103 ms against 44 ms for the bursts after it). `create_app` leaves
    FastAPI's default: a test builds an app for each test, ~70 ms each when built whole."""
    for _ in iter_route_contexts(app.routes):
        pass
    return app
