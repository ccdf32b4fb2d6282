"""`POST /hooks/salesforce?key=...`: Salesforce outbound messages (CONTRACT 6).

The key is checked before the body is parsed, the organisation right after; every
notification is stored before the SOAP `Ack` true is sent (Salesforce retries otherwise).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep
from service.crm_inbound_push import accept_salesforce, verify_salesforce_key
from tools.crm.salesforce_soap import ACK

router = APIRouter(tags=["hooks"])


@router.post("/hooks/salesforce", response_class=Response,
             responses={200: {"content": {"text/xml": {}}, "description": "SOAP Ack true"},
                        401: {"description": "wrong key or organisation; nothing stored"},
                        404: {"description": "the hook is off (its settings unset)"}})
async def salesforce_hook(rt: RuntimeDep, request: Request) -> Response:
    """An outbound message (SOAP, 1-100 notifications); answered `Ack` true once stored."""
    verify_salesforce_key(rt, request.query_params.get("key"))
    body = await request.body()
    await run_in_threadpool(accept_salesforce, rt, body)
    return Response(ACK, media_type="text/xml; charset=utf-8")
