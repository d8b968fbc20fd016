"""case_events refuses UPDATE and DELETE on both backends, whoever connects (plain SQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from gridgov.domain.lifecycle import EventKind
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger.models import CaseEvent
from gridgov.runtime import Runtime
from tests.test_assessment_sample import sample_ledger

AT = datetime(2026, 10, 12, 1, tzinfo=UTC)


def test_events_cannot_be_updated_or_deleted_but_cases_go_on(
    runtime: Runtime, catalog: Catalog
) -> None:
    lg = sample_ledger(runtime, catalog)
    no = lg.open("ZT-DEP", "ZQ-S1-C1", None, AT)
    engine = runtime.engine
    attempts = [
        update(CaseEvent).values(actor="someone else"),
        update(CaseEvent).where(CaseEvent.seq == 1).values(at=AT.replace(hour=0)),
        delete(CaseEvent),
    ]
    for stmt in attempts:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(stmt)
    lg.dispatch(no, AT)  # appending still works
    with engine.connect() as conn:
        kinds = conn.scalars(select(CaseEvent.kind).order_by(CaseEvent.seq)).all()
        assert conn.scalar(select(func.count()).select_from(CaseEvent)) == 2
    assert kinds == ["created", EventKind.DISPATCHED.value]
    assert lg.book.get(no).status == "dispatched"
