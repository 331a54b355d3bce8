"""The schema comes only from migrations, and they match the models exactly."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


def test_models_and_migrations_agree(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"


def test_sqlite_runs_with_foreign_keys_and_wal(app):
    with db.engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            return
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
