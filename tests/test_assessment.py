"""The counting rules of docs/assessment.md on the hand-made ledger of test_assessment_sample,
on SQLite and PostgreSQL. Every expected number is worked out by hand in that module's
docstring and written here literally."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from gridgov.assessments.engine import Assessment, assess
from gridgov.assessments.period import Month
from gridgov.assessments.scheme import load_scheme
from gridgov.item_catalog.loader import Catalog
from gridgov.runtime import Runtime
from tests.conftest import at
from tests.test_assessment_sample import (
    C1,
    C2,
    C3,
    G11,
    G12,
    G21,
    G31,
    Ledger,
    build_october,
    sample_ledger,
)

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.fixture
def ledger(runtime: Runtime, catalog: Catalog) -> Ledger:
    return sample_ledger(runtime, catalog)


def run(lg: Ledger, month: str, now: datetime = NOW, scheme: str = "default") -> Assessment:
    return assess(lg.rt.engine, lg.rt.calendar, Month.parse(month), load_scheme(scheme), now=now)


def row(a: Assessment, table: str, code: str, *cols: str) -> dict[str, object]:
    r = a.tables[table].loc[code]
    return {c: (None if pd.isna(r[c]) else r[c]) for c in cols}


CASE_COLS = ("due", "closed", "closed_on_time", "overdue", "extended", "reworked_cases")


def test_october_departments(ledger: Ledger) -> None:
    build_october(ledger)
    a = run(ledger, "2026-10")
    # Outcomes go to whoever holds the case at the cutoff: ZCG has L (closed late), A (on
    # time), B (late) and D (open, overdue); C ended with ZSC; K awaits re-route (nobody's).
    assert row(a, "department", "ZCG", *CASE_COLS) == {
        "due": 4, "closed": 3, "closed_on_time": 1, "overdue": 3, "extended": 0,
        "reworked_cases": 0,
    }  # fmt: skip
    assert row(a, "department", "ZSC", *CASE_COLS) == {
        "due": 1, "closed": 1, "closed_on_time": 1, "overdue": 0, "extended": 1,
        "reworked_cases": 0,
    }  # fmt: skip
    assert row(a, "department", "ZHB", "due", "closed_on_time", "handled", "reworks") == {
        "due": 1, "closed_on_time": 1, "handled": 2, "reworks": 1,
    }  # fmt: skip
    assert a.totals["unassigned_due"] == 1  # K
    zcg = row(
        a, "department", "ZCG", "received", "handled", "returns", "returns_accepted",
        "extension_requests", "extensions_refused", "rated", "basically_satisfied",
        "ack_on_time", "ack_late", "ack_missed", "arrive_on_time", "arrive_late",
    )  # fmt: skip
    assert zcg == {
        # Dispatched to ZCG in October: A, B, C, D, E, J, K. Handled: L (9 Oct), A, B.
        "received": 7, "handled": 3,
        # The department that returns is charged with the return: C (re-routed: accepted)
        # and K (never re-routed).
        "returns": 2, "returns_accepted": 1,
        "extension_requests": 1, "extensions_refused": 1, "rated": 1, "basically_satisfied": 1,
        # Acknowledged on time: A, D and E (30 Oct, although E is due in November); B late;
        # C's and K's windows were ended by the returns, J's by the cancellation.
        "ack_on_time": 3, "ack_late": 1, "ack_missed": 0,
        "arrive_on_time": 2, "arrive_late": 1,
    }  # fmt: skip
    assert row(a, "department", "ZSC", "ack_on_time", "assists", "assist_cases") == {
        "ack_on_time": 1, "assists": 1, "assist_cases": 5,  # ZT-DEP cases L, A, B, D, K
    }  # fmt: skip
    rates = row(
        a, "department", "ZCG", "closure_rate", "on_time_closure_rate", "overdue_rate",
        "response_timeliness", "return_rate", "satisfaction_rate", "rework_rate",
    )  # fmt: skip
    assert rates == pytest.approx({
        "closure_rate": 0.75, "on_time_closure_rate": 0.25, "overdue_rate": 0.75,
        "response_timeliness": 0.75, "return_rate": 2 / 7, "satisfaction_rate": 1.0,
        "rework_rate": 0.0,
    })  # fmt: skip
    assert row(a, "department", "ZHB", "rework_rate")["rework_rate"] == 0.5
    assert row(a, "department", "ZSC", "extension_rate")["extension_rate"] == 1.0
    # Working hours from receipt to final handling: L 23.5 (over the holiday), A 4.0, B 11.5.
    hours = row(a, "department", "ZCG", "mean_handling_hours", "p90_handling_hours")
    assert hours == pytest.approx({"mean_handling_hours": 13.0, "p90_handling_hours": 21.1})
    assert row(a, "department", "ZSC", "mean_handling_hours")["mean_handling_hours"] == 14.0
    assert "COMMUNITY" not in a.tables["department"].index


def test_october_communities_grids_and_streets(ledger: Ledger) -> None:
    build_october(ledger)
    a = run(ledger, "2026-10")
    assert {c: row(a, "community", c, *CASE_COLS[:4]) for c in (C1, C2, C3)} == {
        C1: {"due": 6, "closed": 5, "closed_on_time": 4, "overdue": 2},  # A B C D F H
        # K (J cancelled; N, overdue since September, is not counted again)
        C2: {"due": 1, "closed": 0, "closed_on_time": 0, "overdue": 1},
        C3: {"due": 2, "closed": 2, "closed_on_time": 1, "overdue": 1},  # L I (M: September)
    }
    # Reported in October and not cancelled: F (31 Oct 23:00 local) counts, G (1 Nov 00:10
    # local, still 31 Oct in UTC) does not.
    assert row(a, "community", C1, "reported", "reported_field_fix", "reported_patrol") == {
        "reported": 6, "reported_field_fix": 1, "reported_patrol": 4,
    }  # fmt: skip
    assert row(a, "community", C1, "field_fix_share", "patrol_share") == pytest.approx(
        {"field_fix_share": 1 / 6, "patrol_share": 4 / 6}
    )
    assert row(a, "community", C1, "rated", "satisfied", "unsatisfied", "handled", "reworks") == {
        "rated": 3, "satisfied": 1, "unsatisfied": 1, "handled": 6, "reworks": 1,
    }  # fmt: skip
    # F 0.0 (fixed on a Saturday night), A 4.0, B 11.5, C 14.0, H 5.0.
    assert row(a, "community", C1, "mean_handling_hours")["mean_handling_hours"] == 6.9
    assert {g: int(a.tables["grid"].loc[g, "due"]) for g in (G11, G12, G21, G31)} == {
        G11: 4, G12: 2, G21: 1, G31: 2,
    }  # fmt: skip
    assert a.tables["street"].loc[["ZQ-S1", "ZQ-S2"], "due"].tolist() == [7, 2]
    assert (a.totals["due"], a.totals["closed"], a.totals["overdue"]) == (9, 7, 4)


def test_october_scores_ranks_and_flags(ledger: Ledger) -> None:
    build_october(ledger)
    a = run(ledger, "2026-10")
    dept = a.tables["department"]
    # Default scheme, ZCG: rework 10 + extension 5 + satisfaction 15 of 100 points.
    assert dept.loc["ZCG", "score"] == 30.0
    # ZSC and ZHB have no ratings: satisfaction (15) is left out and the rest scaled up.
    assert dept.loc["ZSC", "score"] == round(100 * 80 / 85, 2)
    assert dept.loc["ZHB", "score"] == round(100 * 75 / 85, 2)
    assert dept["rank"].isna().all()  # fewer than 5 due cases each: not ranked or flagged
    comm = a.tables["community"]
    assert comm.loc[C1, "score"] == 11.03 and comm.loc[C1, "rank"] == 1
    assert comm.loc[C1, "flag"] == "red" and comm.loc[C2, "flag"] == ""
    assert a.tables["grid"].loc[G11, "score"] == 33.57
    fh = run(ledger, "2026-10", scheme="fenghuang")
    assert len(fh.scheme.community.criteria) == 13
    # 1+5+N for ZCG: satisfaction 30, rework 5, extension 4, mean hours 13 → 2 of 4,
    # p90 21.1 → 4·(60-21.1)/52 = 2.99; the rest earn nothing.
    assert fh.tables["department"].loc["ZCG", "score"] == 43.99


def test_october_staff_and_the_sunk_staff_split(ledger: Ledger) -> None:
    build_october(ledger)
    a = run(ledger, "2026-10")
    staff = a.tables["staff"].set_index("actor")
    cols = ["role", "unit", "grid_code", "actions", "cases", "handled", "handled_due",
            "handled_on_time", "handled_overdue", "reported", "field_fixes"]  # fmt: skip
    assert staff.loc["officer-zcg", cols].tolist() == [
        "department", "ZCG", G11, 13, 7, 3, 3, 1, 2, 0, 0,
    ]  # fmt: skip
    assert staff.loc["patroller-1", cols].tolist() == [
        "patroller", C1, G11, 9, 8, 1, 1, 1, 0, 8, 1,
    ]  # fmt: skip
    assert staff.loc["team-zq-s1-c1", ["handled", "handled_due", "handled_reworked"]].tolist() == [
        2, 1, 1,
    ]  # fmt: skip
    zcg = staff.loc["officer-zcg"]
    assert zcg["personal_score"] == 50.0  # on time 1/3: 0; no rework: 25; satisfied: 25
    assert zcg["local_score"] == round((33.57 + 11.03) / 2, 2)  # grid G11 and community C1
    assert zcg["score"] == round(0.7 * 22.30 + 0.3 * 50.0, 2)
    assert zcg["rank"] == 1 and zcg["flag"] == "red"


def test_month_boundaries_and_carry_over(ledger: Ledger) -> None:
    build_october(ledger)
    sep = run(ledger, "2026-09")
    # L is due in September and still open at its end: overdue there, and closed late in
    # October (see the October test). M closed early in September: counted there only.
    assert row(sep, "department", "ZCG", *CASE_COLS[:4]) == {
        "due": 2, "closed": 1, "closed_on_time": 1, "overdue": 1,
    }  # fmt: skip
    assert row(sep, "department", "ZCG", "mean_handling_hours")["mean_handling_hours"] == 1.0
    # N, the field fix never done, is due and overdue in September (its community's)...
    assert row(sep, "community", C2, "due", "overdue", "reported") == {
        "due": 1, "overdue": 1, "reported": 1,
    }  # fmt: skip
    nov = run(ledger, "2026-11")  # still running: as of NOW
    assert not nov.window.complete
    # E (due and closed 2 Nov) and G (closed 1 Nov 00:30 local); D and K are overdue from
    # October and not counted again.
    assert nov.totals["due"] == 2 and nov.totals["closed_on_time"] == 2
    assert row(nov, "department", "ZCG", "due", "ack_on_time", "arrive_on_time") == {
        "due": 1, "ack_on_time": 0, "arrive_on_time": 1,  # E's ack counted in October
    }  # fmt: skip
    assert row(nov, "department", "ZCG", "mean_handling_hours")["mean_handling_hours"] == 3.5
    assert row(nov, "community", C1, "reported", "field_fix_share") == {
        "reported": 1, "field_fix_share": 1.0,
    }  # fmt: skip


def test_as_of_a_moment_inside_the_month(ledger: Ledger) -> None:
    build_october(ledger)
    noon = run(ledger, "2026-10", now=at(2026, 10, 14, 12))
    # L and A closed; B due at 09:30 and not handled by noon: overdue; C and I not yet due.
    assert row(noon, "department", "ZCG", *CASE_COLS[:4]) == {
        "due": 3, "closed": 2, "closed_on_time": 1, "overdue": 2,
    }  # fmt: skip
    assert row(noon, "department", "ZCG", "returns", "returns_accepted") == {
        "returns": 1, "returns_accepted": 1,  # C re-routed at 10:00
    }  # fmt: skip
    early = run(ledger, "2026-10", now=at(2026, 10, 14, 9, 30))
    assert row(early, "department", "ZCG", "returns", "returns_accepted") == {
        "returns": 1, "returns_accepted": 0,  # not re-routed yet
    }  # fmt: skip
