"""`POST /hooks/segment`: Segment `track` / `identify` calls (CONTRACT 6), HTTP Basic auth
with SEGMENT_WRITE_KEY as the user, checked before the body is parsed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep
from service.crm_inbound import verify_segment
from service.crm_inbound_push import accept_segment

router = APIRouter(tags=["hooks"])


@router.post("/hooks/segment",
             responses={401: {"description": "missing or wrong write key; nothing stored"},
                        404: {"description": "the hook is off (SEGMENT_WRITE_KEY unset)"}})
async def segment_hook(rt: RuntimeDep, request: Request) -> dict[str, Any]:
    """One call or `{"batch": [...]}`; named track events become our events by the mapping."""
    verify_segment(rt, request.headers.get("authorization"))
    body = await request.body()
    return await run_in_threadpool(accept_segment, rt, body)
