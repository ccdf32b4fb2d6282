"""CRM connectors: who a vendor's own ids are (issue 16).

Segment's `track` calls name a person by `userId` / `anonymousId`, usually without an email;
the `identify` call that names them carries it. Each identity seen with an email points at its
lead, so a later track finds the lead. Rows go with their lead (ON DELETE CASCADE): erasing a
lead erases what pointed at it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import Base


class CrmIdentity(Base):
    __tablename__ = "crm_identities"

    source: Mapped[str] = mapped_column(String(20), primary_key=True)  # "segment"
    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)  # "user:97980c..."
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    updated_at: Mapped[datetime]
