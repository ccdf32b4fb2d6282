"""Personal API tokens: created for a roster member, stored hashed, revocable.

A token is `hitl_pt_` + 32 random bytes (URL-safe base64, 256 bits). Only its SHA-256 is kept.
A token works while it is not revoked and its member is still on the roster (the team file):
removing a member from the roster disables every token they hold.

Two checks, for two places:

- `resolve(rt, token)` is the authoritative one (the database, now): the API's dependency
  runs it in a worker thread for every request and gets the `Principal`.
- `ActiveTokens` is for the HTTP edge, which runs on the event loop before the body is read:
  an in-memory set of the active tokens' hashes, reloaded (in a thread) when older than
  `ttl_s`, or sooner when an unknown token arrives (at most once per `miss_refresh_s`), so a
  token created by `hitl tokens create` on another replica works at once. A token revoked
  elsewhere may pass the edge until the next reload; `resolve` still refuses it.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from service.audit import audit
from service.errors import Conflict, InvalidInput, NotFound
from service.identity import Principal, for_member
from service.ids import new_id
from service.runtime import AppRuntime
from store.tables import PersonalToken

TOKEN_PREFIX = "hitl_pt_"
MAX_TOKEN_CHARS = 128
# `last_used_at` is written at most this often per token (not a write per request).
LAST_USED_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_personal(token: str | None) -> bool:
    return token is not None and token.startswith(TOKEN_PREFIX) \
        and len(token) <= MAX_TOKEN_CHARS


def token_view(row: PersonalToken, rt: AppRuntime) -> dict[str, Any]:
    member = rt.roster.find(row.member_key)
    return {"token_id": row.id, "member": row.member_key,
            "member_name": member.name if member else None, "on_roster": member is not None,
            "name": row.name, "created_at": row.created_at, "last_used_at": row.last_used_at,
            "revoked_at": row.revoked_at}


def create(rt: AppRuntime, member_ref: str, name: str | None = None, *,
           actor: str = "cli") -> tuple[dict[str, Any], str]:
    """A new token for the roster member named by email or Slack id: (its view, the token).
    The token is returned once and never stored."""
    member = rt.roster.find(member_ref)
    if member is None:
        raise InvalidInput(f"{member_ref!r} is not on the team roster (HITL_TEAM_FILE)",
                           field="member")
    if name is not None and len(name) > 200:
        raise InvalidInput("name is longer than 200 characters", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = rt.clock.now()
    with rt.db.session() as session:
        row = PersonalToken(id=new_id("tok"), member_key=member.key, name=name,
                            token_hash=hash_token(token), created_at=now)
        session.add(row)
        session.flush()
        audit(session, rt, actor=actor, action="token_created", lead_id=None,
              subject_id=row.id, member=member.key)
        view = token_view(row, rt)
    return view, token


def list_tokens(rt: AppRuntime, *, include_revoked: bool = True) -> list[dict[str, Any]]:
    with rt.db.read() as session:
        query = select(PersonalToken).order_by(PersonalToken.created_at, PersonalToken.id)
        if not include_revoked:
            query = query.where(PersonalToken.revoked_at.is_(None))
        return [token_view(row, rt) for row in session.scalars(query)]


def revoke(rt: AppRuntime, token_id: str, *, actor: str = "cli") -> dict[str, Any]:
    now = rt.clock.now()
    with rt.db.session() as session:
        row = session.get(PersonalToken, token_id)
        if row is None:
            raise NotFound(f"token {token_id} not found")
        if row.revoked_at is not None:
            raise Conflict(f"token {token_id} was already revoked at "
                           f"{row.revoked_at.isoformat()}")
        row.revoked_at = now
        audit(session, rt, actor=actor, action="token_revoked", lead_id=None,
              subject_id=row.id, member=row.member_key)
        session.flush()
        return token_view(row, rt)


def resolve(rt: AppRuntime, token: str | None) -> Principal | None:
    """The principal a personal token authenticates, or None (unknown, revoked, or its member
    is no longer on the roster). Blocks on the database: not for the event loop."""
    if not looks_personal(token):
        return None
    digest = hash_token(token)  # type: ignore[arg-type]
    with rt.db.read() as session:
        row = session.scalar(select(PersonalToken).where(PersonalToken.token_hash == digest))
        if row is None or row.revoked_at is not None:
            return None
        token_id, member_key, last_used = row.id, row.member_key, row.last_used_at
    member = rt.roster.find(member_key)
    if member is None:
        return None
    now = rt.clock.now()
    if last_used is None or now - last_used >= LAST_USED_EVERY:
        with rt.db.session() as session:
            session.execute(update(PersonalToken).where(PersonalToken.id == token_id)
                            .values(last_used_at=now))
    return for_member(member, token_id)


class ActiveTokens:
    """The hashes of the tokens that work now, for a check on the event loop (see module doc).

    `now` is a monotonic clock in seconds (injected by tests)."""

    def __init__(self, rt: AppRuntime, *, ttl_s: float = 5.0, miss_refresh_s: float = 1.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.rt = rt
        self.ttl_s = ttl_s
        self.miss_refresh_s = miss_refresh_s
        self.now = now
        self.hashes: frozenset[str] = frozenset()
        self.loaded_at: float | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def load(self) -> frozenset[str]:
        """Read the active hashes (blocking: run it in a thread)."""
        with self.rt.db.read() as session:
            rows = session.execute(select(PersonalToken.token_hash, PersonalToken.member_key)
                                   .where(PersonalToken.revoked_at.is_(None))).all()
        roster = self.rt.roster
        return frozenset(h for h, key in rows if roster.find(key) is not None)

    async def accepts(self, token: str | None) -> bool:
        if not looks_personal(token):
            return False
        digest = hash_token(token)  # type: ignore[arg-type]
        age = None if self.loaded_at is None else self.now() - self.loaded_at
        if age is not None and age < self.ttl_s and digest in self.hashes:
            return True
        if age is None or age >= self.ttl_s or age >= self.miss_refresh_s:
            await self._reload()
        return digest in self.hashes

    async def _reload(self) -> None:
        import anyio.to_thread

        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:  # one lock per event loop
            self._lock, self._lock_loop = asyncio.Lock(), loop
        started = self.now()
        async with self._lock:
            if self.loaded_at is not None and self.loaded_at >= started:
                return  # another request reloaded while this one waited
            hashes = await anyio.to_thread.run_sync(self.load)
            self.hashes, self.loaded_at = hashes, self.now()
