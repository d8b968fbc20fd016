"""The audit's expectations, as code: one Great Expectations expectation per check.

Each check has a stable id (``meta.check``), the frame it runs on, and a sentence saying what
an auditor learns when it fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from great_expectations.expectations.core.expect_column_pair_values_a_to_be_greater_than_b import (
    ExpectColumnPairValuesAToBeGreaterThanB,
)
from great_expectations.expectations.core.expect_column_values_to_be_between import (
    ExpectColumnValuesToBeBetween,
)
from great_expectations.expectations.core.expect_column_values_to_be_in_set import (
    ExpectColumnValuesToBeInSet,
)
from great_expectations.expectations.core.expect_column_values_to_be_unique import (
    ExpectColumnValuesToBeUnique,
)
from great_expectations.expectations.core.expect_column_values_to_match_regex import (
    ExpectColumnValuesToMatchRegex,
)
from great_expectations.expectations.core.expect_column_values_to_not_be_null import (
    ExpectColumnValuesToNotBeNull,
)
from great_expectations.expectations.expectation import Expectation

from gridgov.assessments.audit.checks import CASE_NO
from gridgov.domain.enums import Rating
from gridgov.domain.lifecycle import EventKind

REQUIRED = (
    "case_no",
    "item_code",
    "item_version",
    "tier",
    "status",
    "source",
    "community_code",
    "street_code",
    "assignee",
    "lead_department",
    "opened_at",
    "acknowledge_due",
    "handle_due",
)
REQUIRED_WHEN_CLOSED = ("closed_at", "handled_at", "review_due")
RATINGS = [r.value for r in Rating]


@dataclass(frozen=True)
class Check:
    id: str
    frame: str  # cases | closed | events | kpi
    description: str
    expectation: Expectation


def _true(check: str, frame: str, column: str, description: str) -> Check:
    exp = ExpectColumnValuesToBeInSet(column=column, value_set=[True], meta={"check": check})
    return Check(check, frame, description, exp)


def _in(check: str, frame: str, column: str, values: list[str], description: str) -> Check:
    exp = ExpectColumnValuesToBeInSet(column=column, value_set=values, meta={"check": check})
    return Check(check, frame, description, exp)


def build_checks(reference: dict[str, list[str]]) -> list[Check]:
    d = reference["department"]
    out = [
        Check(
            "case_no_unique",
            "cases",
            "case numbers are unique (compared trimmed and upper-cased)",
            ExpectColumnValuesToBeUnique(column="case_no_key", meta={"check": "case_no_unique"}),
        ),
        Check(
            "case_no_format",
            "cases",
            "case numbers look like C20261012-000001",
            ExpectColumnValuesToMatchRegex(
                column="case_no", regex=CASE_NO, meta={"check": "case_no_format"}
            ),
        ),
    ]
    out += [
        Check(
            f"required_{col}",
            "cases",
            f"every case has {col}",
            ExpectColumnValuesToNotBeNull(column=col, meta={"check": f"required_{col}"}),
        )
        for col in REQUIRED
    ]
    out += [
        Check(
            f"closed_has_{col}",
            "closed",
            f"every closed case has {col}",
            ExpectColumnValuesToNotBeNull(column=col, meta={"check": f"closed_has_{col}"}),
        )
        for col in REQUIRED_WHEN_CLOSED
    ]
    out += [
        Check(
            "closed_after_opened",
            "cases",
            "closed_at is not before opened_at",
            ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="closed_at",
                column_B="opened_at",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta={"check": "closed_after_opened"},
            ),
        ),
        Check(
            "events_in_time_order",
            "events",
            "within a case, events in seq order never go back in time",
            ExpectColumnValuesToBeBetween(
                column="gap_seconds", min_value=0, meta={"check": "events_in_time_order"}
            ),
        ),
        _true(
            "trail_complete",
            "cases",
            "trail_complete",
            "each trail is seq 1…n without gaps and starts with the report",
        ),
        _true(
            "status_matches_trail",
            "cases",
            "status_matches_trail",
            "the case's status is the state its last event led to",
        ),
        _true(
            "closure_reviewed",
            "cases",
            "closure_reviewed",
            "every closed case passed review, or is a field fix closed without a spot check",
        ),
        _true(
            "item_version_valid",
            "cases",
            "item_version_valid",
            "the item version was in force on the case's local opening date",
        ),
    ]
    out += [
        _true(
            f"deadline_{limit}",
            "cases",
            f"{limit}_due_matches",
            f"stored {limit}_due equals the catalogue's limit recomputed from the trail",
        )
        for limit in ("acknowledge", "arrive", "handle", "review")
    ]
    out += [
        _in("known_assignee", "cases", "assignee", d, "assignee is a known department"),
        _in(
            "known_lead_department",
            "cases",
            "lead_department",
            d,
            "lead department is a known department",
        ),
        _in(
            "known_community",
            "cases",
            "community_code",
            reference["community"],
            "community_code is a known community",
        ),
        _in("known_grid", "cases", "grid_code", reference["grid"], "grid_code is a known grid"),
        _in(
            "known_street",
            "cases",
            "street_code",
            reference["street"],
            "street_code is a known street",
        ),
        _true(
            "grid_in_community",
            "cases",
            "grid_in_community",
            "the case's grid lies in its community",
        ),
        _in("known_event_department", "events", "department", d, "events name known departments"),
        _in(
            "known_event_kind",
            "events",
            "kind",
            [k.value for k in EventKind],
            "event kinds are known",
        ),
        _in(
            "rating_in_range",
            "cases",
            "rating",
            RATINGS,
            "case ratings are satisfied / basically_satisfied / unsatisfied",
        ),
        _in(
            "event_rating_in_range",
            "events",
            "rating",
            RATINGS,
            "callback ratings are satisfied / basically_satisfied / unsatisfied",
        ),
        _true(
            "role_allowed",
            "events",
            "role_allowed",
            "each event was fired by a role the transition table allows for it",
        ),
        _true(
            "status_chained",
            "events",
            "status_chained",
            "each event starts in the state the case's previous event left it in",
        ),
        _true(
            "transition_allowed",
            "events",
            "transition_allowed",
            "each event goes from a state the transition table allows to the state it leads to",
        ),
        _true(
            "actor_holds_case",
            "events",
            "actor_holds_case",
            "a department acts only on cases its trail sent to it; a community on its own",
        ),
        _true(
            "review_independent",
            "events",
            "review_independent",
            "no review is passed or failed by an officer of the department handling the case",
        ),
        _true(
            "holder_matches_trail",
            "cases",
            "holder_matches_trail",
            "the case's assignee is the department its last dispatch/re-route sent it to",
        ),
        _true(
            "rating_matches_trail",
            "cases",
            "rating_matches_trail",
            "the case's rating is the rating of its last callback event",
        ),
        _true(
            "handled_at_matches_trail",
            "cases",
            "handled_at_matches_trail",
            "the case's handled_at is the time of its last handling (none after a rework)",
        ),
        _true(
            "closed_at_matches_trail",
            "cases",
            "closed_at_matches_trail",
            "the case's closed_at is the time of its closing event",
        ),
        _true(
            "kpi_reconciles",
            "kpi",
            "match",
            "the KPI tables' month totals equal raw counts of the ledger's events",
        ),
    ]
    return out
