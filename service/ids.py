"""Identifiers: opaque, random, never derived from personal data."""

import hashlib
import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def hash_event_id(event_id: str) -> str:
    return hashlib.sha256(event_id.encode()).hexdigest()
