"""Alembic environment: the engine is handed in by gridgov.ledger.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from gridgov.ledger.base import Base
from gridgov.ledger.db import make_engine

config = context.config
target_metadata = Base.metadata


def run() -> None:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        from gridgov.settings import get_settings

        engine = make_engine(get_settings().ledger_url)
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=conn.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()


run()
