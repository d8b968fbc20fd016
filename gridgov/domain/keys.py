"""Idempotency keys of everything the system itself writes, made in one place with one
length rule: a key is at most ``MAX`` characters, and a key that would be longer keeps its
fixed parts and replaces its variable part (a source id, a causing event's key) by a digest of
it — never a cut, which could make two keys equal.

The texts are those the ledger already stores (a stored key is what a retried command is
matched against, so changing a format would make a retry after an upgrade act twice); new
formats go here, with a builder, and every writer calls the builder.
"""

from __future__ import annotations

import hashlib

from gridgov.domain.errors import InvalidInput

MAX = 200  # case_events.idempotency_key, notifications.idempotency_key: String(200)


def digest(text: str) -> str:
    """The stand-in for a variable part that makes a key too long (33 characters)."""
    return "#" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def fit(head: str, variable: str, tail: str = "") -> str:
    """``head + variable + tail``, or with ``variable`` replaced by its digest when that
    would be longer than ``MAX`` (what is left over is cut from the end of ``head``, which
    only happens for heads longer than anything the ledger writes)."""
    key = head + variable + tail
    if len(key) <= MAX:
        return key
    return (head + digest(variable) + tail)[-MAX:]


def check(key: str) -> str:
    """A caller's key: 1–MAX characters (the error names the field)."""
    if not key or len(key) > MAX:
        raise InvalidInput(f"idempotency key must be 1–{MAX} characters", field="idempotency_key")
    return key


def notice(event_key: str, kind: str, recipient: str) -> str:
    """An outbox notice: the event it announces, its kind, its recipient."""
    return fit("", event_key, f"|{kind}|{recipient}")


def follow_up(case_no: str, after_seq: int, kind: str) -> str:
    """An automatic step (progress.advance; bulk intake's dispatch), from the event before it."""
    return fit("", case_no, f"#{after_seq}>{kind}")


def intake(source: str, event_id: str) -> str:
    """The ``created`` event of a case opened by a machine event."""
    return fit(f"intake:{source}:", event_id)


def imported(system: str, source_id: str, kind: str) -> str:
    """A step of an imported case's trail."""
    return fit(f"import:{system}:", source_id, f":{kind}")


def imported_digest_head(system: str, source_id: str) -> str:
    """What an imported key starts with once its source id is digested (the importer's SQL
    path appends ``:<kind>`` itself)."""
    return f"import:{system}:{digest(source_id)}"


def ladder(due_second: int, case_no: str, clock: str, start: str, step: str) -> str:
    """A 督办 ladder step. The step's due second comes first so one sweep's keys sort next to
    each other in the unique index."""
    return fit(f"{due_second}|", case_no, f"#{clock}@{start}#{step}")
