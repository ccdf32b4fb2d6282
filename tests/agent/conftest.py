"""Fixtures shared by the agent-layer tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store.db import Database


@pytest.fixture
def store(database_url: str) -> Iterator[Database]:
    """A migrated, empty store on `database_url` (SQLite, or PostgreSQL when parametrized)."""
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()
