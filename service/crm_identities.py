"""Vendor identities -> leads (store/tables/crm.py): a Segment `track` without an email finds
its person through the `userId` / `anonymousId` an earlier call named with one; a HubSpot
privacy deletion finds the lead its contact id became."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from service.runtime import AppRuntime
from store.tables import CrmIdentity, Lead

MAX_ID = 200
# HubSpot's webhook deliveries wait in this job (service.crm_inbound) until the contacts are
# read; erasure takes a person's deliveries out of it (service.erasure).
HUBSPOT_DELIVERIES_JOB = "crm_hubspot_deliveries"


def hubspot_contact_ids(session: Any, lead_id: str) -> set[int]:
    """The HubSpot contact ids known to have become this lead."""
    ids = session.scalars(select(CrmIdentity.external_id).where(
        CrmIdentity.source == "hubspot", CrmIdentity.lead_id == lead_id))
    return {int(i.removeprefix("contact:")) for i in ids
            if i.startswith("contact:") and i.removeprefix("contact:").isdigit()}


def identities_of(call: dict[str, Any]) -> list[str]:
    """The ids a Segment call names its person by, most specific first."""
    out = []
    for prefix, key in (("user", "userId"), ("anon", "anonymousId")):
        value = call.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = f"{prefix}:{value}".strip()
            if len(text) <= MAX_ID and text != f"{prefix}:":
                out.append(text)
    return out


def emails_for(rt: AppRuntime, source: str, ids: Iterable[str]) -> dict[str, str]:
    """The lead email each known identity points at."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    with rt.db.read() as session:
        rows = session.execute(
            select(CrmIdentity.external_id, Lead.email)
            .join(Lead, Lead.id == CrmIdentity.lead_id)
            .where(CrmIdentity.source == source, CrmIdentity.external_id.in_(wanted)))
        return {external_id: email for external_id, email in rows if email}


def lead_ids_for(rt: AppRuntime, source: str, ids: Iterable[str]) -> dict[str, str]:
    """The lead id each known identity points at."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    with rt.db.read() as session:
        rows = session.execute(
            select(CrmIdentity.external_id, CrmIdentity.lead_id)
            .where(CrmIdentity.source == source, CrmIdentity.external_id.in_(wanted)))
        return {external_id: lead_id for external_id, lead_id in rows}


def remember(rt: AppRuntime, source: str, emails_by_id: dict[str, str]) -> None:
    """Point each identity at the lead of its email (the latest call wins)."""
    if not emails_by_id:
        return
    now = rt.clock.now()
    with rt.db.session() as session:
        lead_ids = {email: lead_id for email, lead_id in session.execute(
            select(Lead.email, Lead.id).where(Lead.email.in_(set(emails_by_id.values()))))}
        rows = [{"source": source, "external_id": external_id, "lead_id": lead_ids[email],
                 "updated_at": now}
                for external_id, email in emails_by_id.items() if email in lead_ids]
        if not rows:
            return
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(CrmIdentity).values(rows)
        session.execute(stmt.on_conflict_do_update(
            index_elements=["source", "external_id"],
            set_={"lead_id": stmt.excluded.lead_id, "updated_at": stmt.excluded.updated_at}))
