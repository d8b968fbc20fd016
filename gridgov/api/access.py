"""Who may see which cases, as a Python check (one case) and as SQL (lists).

* dispatcher, reviewer, supervisor, auditor: every case, or those of their street/community
  when the key is scoped;
* department: cases assigned to it, or where it is called to assist;
* community: cases of its community;
* patroller: cases of its scope, or (unscoped) the cases it reported;
* citizen app: the cases it reported, and those opened from its requests;
* machine (AI-camera / IoT platform): none — it only posts event batches.

What a role may *do* is the transition table's business (``decide``); a caller must also be
able to see the case it acts on.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, String, cast, false, or_, select, true
from sqlalchemy.orm import Session, sessionmaker

from gridgov.api.keystore import Principal
from gridgov.domain.enums import Role
from gridgov.domain.errors import NotPermitted
from gridgov.domain.lifecycle import EventKind
from gridgov.ledger.models import Case, CaseEvent
from gridgov.ledger.records import CaseRecord
from gridgov.ledger.risk_models import CitizenRequest

OVERSIGHT = frozenset({Role.DISPATCHER, Role.REVIEWER, Role.SUPERVISOR, Role.AUDITOR})
OWN_REPORTS = frozenset({Role.CITIZEN, Role.PATROLLER})


def in_scope(scope: str | None, street: str, community: str) -> bool:
    return scope is None or scope in (street, community)


def creator_of(factory: sessionmaker[Session], case_id: int) -> str | None:
    with factory() as s:
        return s.scalar(
            select(CaseEvent.actor).where(
                CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.CREATED.value
            )
        )


def _requested(p: Principal) -> Select[tuple[int | None]]:
    """Cases opened from citizen requests this key submitted (a dispatcher may have picked the
    item: the request ids carry the key's prefix)."""
    return select(CitizenRequest.case_id).where(
        CitizenRequest.request_id.startswith(f"{p.prefix}:", autoescape=True),
        CitizenRequest.case_id.is_not(None),
    )


def is_own_report(p: Principal, case_id: int, factory: sessionmaker[Session]) -> bool:
    if creator_of(factory, case_id) == p.actor_name:
        return True
    with factory() as s:
        return s.scalar(_requested(p).where(CitizenRequest.case_id == case_id)) is not None


def check_visible(p: Principal, case: CaseRecord, factory: sessionmaker[Session]) -> None:
    """Raise NotPermitted unless ``p`` may see ``case``."""
    if p.role == Role.MACHINE:
        raise NotPermitted("a machine key posts event batches and reads no cases", field="role")
    if p.role == Role.DEPARTMENT:
        if p.department == case.assignee or p.department in case.assisting:
            return
        raise NotPermitted(
            f"case {case.case_no} is neither assigned to nor assisted by department {p.department}",
            field="case_no",
        )
    if p.role in OWN_REPORTS and not (p.role == Role.PATROLLER and p.scope):
        if is_own_report(p, case.id, factory):
            return
        raise NotPermitted(f"case {case.case_no} was not reported with this key", field="case_no")
    if in_scope(p.scope, case.street_code, case.community_code):
        return
    raise NotPermitted(f"case {case.case_no} is outside this key's area {p.scope}", field="case_no")


def visible_clause(p: Principal) -> ColumnElement[bool]:
    """The same rule as :func:`check_visible`, as a WHERE clause on ``cases``."""
    if p.role == Role.MACHINE:
        return false()
    if p.role == Role.DEPARTMENT:
        code = p.department or ""
        # JSON list stored as text on both backends: '["CG", "ZJ"]'; codes have no % or _.
        return or_(Case.assignee == code, cast(Case.assisting, String).like(f'%"{code}"%'))
    if p.role in OWN_REPORTS and not (p.role == Role.PATROLLER and p.scope):
        mine = select(CaseEvent.case_id).where(
            CaseEvent.kind == EventKind.CREATED.value, CaseEvent.actor == p.actor_name
        )
        return or_(Case.id.in_(mine), Case.id.in_(_requested(p)))
    if p.scope is None:
        return true() if p.role in OVERSIGHT | {Role.PATROLLER} else false()
    return or_(Case.street_code == p.scope, Case.community_code == p.scope)


def check_may_report(p: Principal, community: str, street: str, source: str) -> None:
    """Before a case is written: the place and the source must fit the key."""
    if not in_scope(p.scope, street, community):
        raise NotPermitted(
            f"this key may report in {p.scope} only, not in community {community}",
            field="community",
        )
    allowed = {Role.CITIZEN: {"citizen", "hotline"}, Role.PATROLLER: {"patrol"}}.get(p.role)
    if allowed is not None and source not in allowed:
        raise NotPermitted(
            f"a {p.role.value} key reports with source {' or '.join(sorted(allowed))}",
            field="source",
        )
