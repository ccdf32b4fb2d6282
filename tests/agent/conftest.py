"""Fixtures shared by the agent-layer tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store.db import Database
from tests.conftest import start_migrated


@pytest.fixture
def store(database_url: str, migrated_sqlite: Path) -> Iterator[Database]:
    """A migrated, empty store on `database_url` (SQLite, or PostgreSQL when parametrized)."""
    start_migrated(database_url, migrated_sqlite)
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()
