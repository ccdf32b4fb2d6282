"""Signed, expiring links to read-only pages: a browser opens them with no bearer header.

The KPI report is the first of them; any read path can be signed the same way (`signed_url`'s
`path`): the SLA notice emails link the approval or the handoff they are about
(service/notices.py, `GET /v1/approvals/{id}` and `GET /v1/handoffs/{id}`). A signature covers
exactly one path, so a link never opens anything else.

`hitl report --link` and the Slack summary hand a manager
`{HITL_PUBLIC_URL}/v1/reports/kpi?sig=...&exp=...`. The signature is an HMAC-SHA256 over the
path and the expiry (Unix seconds), so neither can be changed without the secret; the route
checks it with a constant-time compare before serving anything (403 otherwise, saying whether
the link expired or was altered).

The secret is `HITL_LINK_SECRET`; unset, it is derived from the service token
(`HMAC(HITL_API_TOKEN, label)`), so rotating the service token also voids every link handed
out, and the token itself never appears in a URL.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from service.errors import Forbidden, ServiceError

if TYPE_CHECKING:
    from config.settings import Settings

KPI_REPORT_PATH = "/v1/reports/kpi"
DEFAULT_HOURS = 168  # a week: the weekly summary's link lasts until the next one
MAX_HOURS = 24 * 90
_DERIVE_LABEL = b"hitl report link v1"
_MAX_SIG_CHARS = 128
EXPIRED = "this report link has expired: ask for a new one (`hitl report --link`)"
ALTERED = "this report link is not valid (altered or signed with another secret)"
LINK_EXPIRED = ("this link has expired: read it with your personal token instead (e.g. "
                "`hitl approvals list --mine`, `hitl handoffs list`)")
LINK_ALTERED = "this link is not valid (altered or signed with another secret)"


class NoLinkSecret(ServiceError):
    """Neither HITL_LINK_SECRET nor HITL_API_TOKEN is set: no link can be signed."""

    status = 400


def link_secret(settings: Settings) -> bytes:
    """The signing key: HITL_LINK_SECRET, else derived from HITL_API_TOKEN."""
    if settings.link_secret:
        return settings.link_secret.encode()
    if settings.api_token:
        return hmac.new(settings.api_token.encode(), _DERIVE_LABEL, hashlib.sha256).digest()
    raise NoLinkSecret("signed links need HITL_LINK_SECRET (or HITL_API_TOKEN to derive it)")


def signature(secret: bytes, path: str, exp: int) -> str:
    """Hex HMAC-SHA256 of `path` and `exp`, joined by a newline (neither can hold one)."""
    return hmac.new(secret, f"{path}\n{exp}".encode(), hashlib.sha256).hexdigest()


def signed_url(settings: Settings, now: datetime, *, hours: float = DEFAULT_HOURS,
               path: str = KPI_REPORT_PATH) -> tuple[str, datetime]:
    """The absolute link on HITL_PUBLIC_URL and when it expires (whole seconds, UTC)."""
    if not 0 < hours <= MAX_HOURS:
        raise ServiceError(f"a link lasts more than 0 and at most {MAX_HOURS} hours")
    expires = (now + timedelta(hours=hours)).replace(microsecond=0)
    exp = int(expires.timestamp())
    query = urlencode({"sig": signature(link_secret(settings), path, exp), "exp": exp})
    return f"{settings.public_url.rstrip('/')}{path}?{query}", expires


def verify(settings: Settings, path: str, sig: str | None, exp: str | None,
           now: datetime, *, altered: str = ALTERED, expired: str = EXPIRED) -> None:
    """Return if `sig` signs `path` until `exp` and `exp` is still ahead; Forbidden (403) if not.

    The signature is checked before the expiry, so an altered link is never reported as
    merely expired. `altered` and `expired` are the refusals' words (the report link's by
    default; LINK_ALTERED and LINK_EXPIRED for other pages)."""
    try:
        secret = link_secret(settings)
    except NoLinkSecret:
        raise Forbidden(altered) from None
    if (not sig or len(sig) > _MAX_SIG_CHARS or not exp or len(exp) > 12
            or not (exp.isascii() and exp.isdigit())):
        raise Forbidden(altered)
    expected = signature(secret, path, int(exp))
    if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
        raise Forbidden(altered)
    if now.timestamp() >= int(exp):
        raise Forbidden(expired)
