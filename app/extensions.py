"""Flask extensions and the declarative base, shared by every package.

This module imports nothing of ours, so `annotation` and `rewards` may import `db` from it
without pulling in the web layer (design.md §1).
"""
from __future__ import annotations

import datetime as dt
import enum
import sqlite3
from typing import Any

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import JSON, DateTime, Engine, Enum, MetaData, event
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so Alembic can alter and drop them on every backend
# (SQLite batch mode needs names to recreate tables).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no time zones and returns naive datetimes; this type stores UTC and always
    hands back aware datetimes, so comparisons never mix naive and aware values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    # One registry carries both, so Flask-SQLAlchemy's db.Model subclass inherits them.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={
            dt.datetime: UTCDateTime(),
            # none_as_null: Python None is SQL NULL (not the JSON text 'null'), so IS NULL works.
            dict[str, Any]: JSON(none_as_null=True),
            list[Any]: JSON(none_as_null=True),
        },
    )


def value_enum(cls: type[enum.Enum], *, length: int = 16) -> Enum:
    """A column type for a str enum: the lowercase value as a VARCHAR with a CHECK — portable
    across backends and easy to migrate (no native ENUM type)."""
    return Enum(cls, values_callable=lambda e: [m.value for m in e], native_enum=False,
                create_constraint=True, length=length, name=cls.__name__.lower())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
csrf = CSRFProtect()
# Rate limits on the endpoints anyone can hit without an account (sign-in, wallet nonces). Storage
# is RATELIMIT_STORAGE_URI: in-process memory by default, Redis when several processes serve.
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """Foreign keys on, WAL, and writer transactions that queue instead of failing.

    pysqlite's own transaction handling is turned off so that every transaction starts with
    BEGIN IMMEDIATE (see `_begin_immediate`): SQLite then serializes writers up front and a
    read-then-write transaction can never fail half-way with SQLITE_BUSY.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_immediate(conn: Any) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
