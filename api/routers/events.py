from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.deps import RuntimeDep
from api.schemas import IngestAccepted
from service.ingest import ingest_events
from service.schemas import MAX_BATCH, EventBatchIn, EventIn

router = APIRouter(tags=["events"])


@router.post("/events", status_code=status.HTTP_202_ACCEPTED, response_model=IngestAccepted,
             openapi_extra={"requestBody": {"content": {"application/json": {"schema": {
                 "oneOf": [{"$ref": "#/components/schemas/EventIn"},
                           {"$ref": "#/components/schemas/EventBatchIn"}]}}}, "required": True}})
def post_events(rt: RuntimeDep, payload: Annotated[dict[str, Any], Body()]) -> IngestAccepted:
    """Accept one event or `{"events": [...]}` (at most 1,000); all-or-nothing validation."""
    try:
        if "events" in payload:
            events = payload["events"]
            if isinstance(events, list) and len(events) > MAX_BATCH:
                raise RequestValidationError([{
                    "loc": ("body", "events"), "type": "too_long",
                    "msg": f"at most {MAX_BATCH} events per request, got {len(events)}"}])
            batch = EventBatchIn.model_validate(payload).events
        else:
            batch = [EventIn.model_validate(payload)]
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    result = ingest_events(rt, batch)
    return IngestAccepted.model_validate(result, from_attributes=True)
