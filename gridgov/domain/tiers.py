"""The path a case takes by tier (三级事项), in one place: who handles it by default, whether a
report is dispatched at once, whether arrival on site is required, how a field fix closes
without review (the spot-check draw), and which time limit runs in each status.

Every writer reads this — the case book, bulk intake, the importer (vectorised over the
tier column) and the flows — so a reader finds a tier's rule here and nowhere else
(docs/lifecycle.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from gridgov.domain.enums import CaseStatus as S
from gridgov.domain.enums import DeadlineKind, Tier

COMMUNITY_UNIT = "COMMUNITY"  # pseudo-department: the case's own community / grid team


@dataclass(frozen=True, slots=True)
class TierPath:
    """How cases of one tier move; see the module docstring."""

    tier: Tier
    # Who a dispatch goes to when it names nobody: the item's lead department, or the
    # community's own grid team (COMMUNITY_UNIT).
    lead_handles: bool
    # 社区发令: a report is dispatched at once by the system (tier 2/3); a field fix (tier 1)
    # is fixed on the spot by the patroller and waits for no dispatch.
    dispatched_at_once: bool
    # 吹哨派单 cases need the department on site (arrived) before handling.
    arrival_required: bool
    # A handled field fix may close without review when the spot-check draw spares it;
    # the case then records spot_check = False (reviewed ones record True).
    spot_check: bool
    # The limit that runs first, while the case waits for its handler to take it up.
    first_limit: DeadlineKind
    # The limit that runs once the handler has acknowledged.
    acknowledged_limit: DeadlineKind

    def default_handler(self, lead_department: str) -> str:
        return lead_department if self.lead_handles else COMMUNITY_UNIT

    def running_limit(self, status: S) -> DeadlineKind | None:
        """The limit that matters while a case sits in ``status``; None when nobody can be late
        (closed, cancelled). Every waiting state has one, so the sweep watches it (issue 12):
        evaluating waits for the citizen's callback (回访)."""
        if status in (S.REPORTED, S.DISPATCHED, S.RETURNED):
            return self.first_limit
        if status == S.ACKNOWLEDGED:
            return self.acknowledged_limit
        if status in (S.IN_PROGRESS, S.REWORK):
            return DeadlineKind.HANDLE
        if status in (S.HANDLED, S.UNDER_REVIEW):
            return DeadlineKind.REVIEW
        if status == S.EVALUATING:
            return DeadlineKind.CALLBACK
        return None

    def status_after_report(self) -> S:
        return S.DISPATCHED if self.dispatched_at_once else S.REPORTED

    def closes_without_review(self, status: S) -> bool:
        """Whether CLOSED from ``status`` skips review (a field fix spared by the draw)."""
        return self.spot_check and status == S.HANDLED

    def spot_check_on_close(self, status: S) -> bool | None:
        """The case's spot_check field after CLOSED from ``status``: False for a field fix
        closed without review, else unchanged (None)."""
        return False if self.closes_without_review(status) else None


PATHS: dict[Tier, TierPath] = {
    Tier.FIELD_FIX: TierPath(
        Tier.FIELD_FIX,
        lead_handles=False,
        dispatched_at_once=False,
        arrival_required=False,
        spot_check=True,
        first_limit=DeadlineKind.HANDLE,
        acknowledged_limit=DeadlineKind.HANDLE,
    ),
    Tier.COMMUNITY: TierPath(
        Tier.COMMUNITY,
        lead_handles=False,
        dispatched_at_once=True,
        arrival_required=False,
        spot_check=False,
        first_limit=DeadlineKind.ACKNOWLEDGE,
        acknowledged_limit=DeadlineKind.HANDLE,
    ),
    Tier.DEPARTMENT: TierPath(
        Tier.DEPARTMENT,
        lead_handles=True,
        dispatched_at_once=True,
        arrival_required=True,
        spot_check=False,
        first_limit=DeadlineKind.ACKNOWLEDGE,
        acknowledged_limit=DeadlineKind.ARRIVE,
    ),
}


def path(tier: Tier | int) -> TierPath:
    return PATHS[Tier(tier)]


def tiers_where(rule: str) -> list[int]:
    """The tiers whose path has boolean ``rule`` set, for vectorised readers
    (``np.isin(tier, tiers_where("lead_handles"))``)."""
    return [int(t) for t, p in PATHS.items() if getattr(p, rule)]
