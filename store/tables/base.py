"""The declarative base and the UTC datetime column type every table uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Index,
    func,
    literal_column,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


# How many leading characters of a lower-cased name its lookup key keeps (`name_key`). Up to
# this length a name is its own key and is found exactly; records sharing a longer key are all
# read. Ten put "University of Texas" with every "University of ..." and a large account's
# colleagues in one bucket that each draft read (migration 0019); each character more adds
# keys to every draft's search (about 15 µs a character on a 450-character draft).
NAME_KEY_CHARS = 20


def name_key(column: Any) -> ColumnElement[str]:
    """A name's lookup key: `lower(column)` cut to its first `NAME_KEY_CHARS` characters, the
    expression of the indexes the content check searches (service/content_check.py). A short
    name is its own key; a longer one is found by its first characters. The numbers are
    literals so the statement's expression is the index's, which both SQLite and PostgreSQL
    require to use it."""
    return func.substr(func.lower(column), literal_column("1"),
                       literal_column(str(NAME_KEY_CHARS)))


def name_key_index(name: str, column: Any) -> Index:
    """The index on `name_key(column)`, attached to the column's table. (Its numbers are
    parameters here, which DDL renders as literals: an index built on `literal_column`s would
    not find its table.)"""
    return Index(name, func.substr(func.lower(column), 1, NAME_KEY_CHARS))
