"""Identity: personal API tokens, each bound to one roster member (contract section 6)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import Base


class PersonalToken(Base):
    """A personal API token. Only the SHA-256 of the token is kept (`token_hash`, hex): the
    token itself is printed once by `hitl tokens create` and never stored. `member_key` is the
    roster member's key (Slack id, else email); a member no longer on the roster cannot use it.
    A revoked token keeps its row (`revoked_at`) so `hitl tokens list` shows what existed."""

    __tablename__ = "personal_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_key: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
