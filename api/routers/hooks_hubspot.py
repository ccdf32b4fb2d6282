"""`POST /hooks/hubspot`: HubSpot webhook v3 deliveries (CONTRACT 6, CRM connectors).

The signature is checked on the raw, bounded body (api/edge.py bounds it) before it is parsed;
the delivery is queued and answered at once (HubSpot wants an answer within 5 seconds).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep
from service.crm_inbound import accept_hubspot, verify_hubspot

router = APIRouter(tags=["hooks"])


def signed_uris(rt: RuntimeDep, request: Request) -> list[str]:
    """The URIs HubSpot may have signed: the webhook's target URL is the public one
    (HITL_PUBLIC_URL + path); the URL this server saw covers a direct deployment."""
    query = request.url.query
    public = rt.settings.public_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")
    return list(dict.fromkeys([public, str(request.url)]))


@router.post("/hooks/hubspot", status_code=status.HTTP_200_OK,
             responses={401: {"description": "bad or stale signature; nothing stored"},
                        404: {"description": "the hook is off (HUBSPOT_CLIENT_SECRET unset)"}})
async def hubspot_hook(rt: RuntimeDep, request: Request) -> dict[str, Any]:
    """HubSpot v3 deliveries (a JSON array), verified with X-HubSpot-Signature-v3 and
    X-HubSpot-Request-Timestamp; queued for the contact read, answered at once."""
    body = await request.body()
    verify_hubspot(rt, method=request.method, uris=signed_uris(rt, request), body=body,
                   signature=request.headers.get("x-hubspot-signature-v3"),
                   timestamp=request.headers.get("x-hubspot-request-timestamp"))
    return await run_in_threadpool(accept_hubspot, rt, body)
