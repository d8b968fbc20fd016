"""API keys: issued once, stored hashed, bound to a role and unit; ``gridgov keys`` CLI."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from gridgov.api.keystore import KEY_RE, KeyVerifier, create_key, digest, list_keys, revoke_key
from gridgov.cli.main import app as cli
from gridgov.domain.enums import Role, TerritoryKind
from gridgov.domain.errors import InvalidInput, NotFound
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger.models import ApiKey
from gridgov.runtime import Runtime, reset_runtime


def test_keys_are_stored_hashed_and_verify(runtime: Runtime) -> None:
    f, cat = runtime.book.factory, runtime.catalog
    dept = next(d for d in sorted(cat.departments) if d != "COMMUNITY")
    token, info = create_key(f, cat, Role.DEPARTMENT, "城管 case system", department=dept)
    assert KEY_RE.match(token) and info.prefix in token
    with f() as s:
        row = s.scalars(select(ApiKey)).one()
    secret = token.rsplit("_", 1)[1]
    stored = " ".join(str(v) for v in (row.prefix, row.key_hash, row.name, row.role))
    assert secret not in stored and row.key_hash == digest(token)
    verifier = KeyVerifier(f, ttl=0)
    who = verifier.verify(token)
    assert who is not None and (who.role, who.department) == (Role.DEPARTMENT, dept)
    assert who.actor_name == f"城管 case system#{info.prefix}"
    assert who.actor().department == dept
    assert verifier.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert verifier.verify("gg_" + info.prefix + "_short") is None
    assert verifier.verify("") is None
    cached = KeyVerifier(f, ttl=3600)
    assert cached.verify(token) is not None
    revoked = revoke_key(f, info.prefix)
    assert revoked.revoked_at is not None
    assert verifier.verify(token) is None
    assert cached.verify(token) is not None  # until its cache time runs out (documented)
    assert list_keys(f) == [] and [k.prefix for k in list_keys(f, include_revoked=True)] == [
        info.prefix
    ]
    with pytest.raises(NotFound):
        revoke_key(f, "00000000")


def test_keys_are_bound_to_a_known_unit(runtime: Runtime) -> None:
    f, cat = runtime.book.factory, runtime.catalog
    street = cat.units(TerritoryKind.STREET)[0].code
    community = cat.units(TerritoryKind.COMMUNITY)[0].code
    bad = [
        (Role.DEPARTMENT, {}, "department"),
        (Role.DEPARTMENT, {"department": "NOPE"}, "department"),
        (Role.DEPARTMENT, {"department": "COMMUNITY"}, "department"),
        (Role.COMMUNITY, {"scope": street}, "community"),
        (Role.COMMUNITY, {}, "community"),
        (Role.DISPATCHER, {"department": "CG"}, "department"),
        (Role.AUDITOR, {"scope": "NOWHERE"}, "community"),
        (Role.SYSTEM, {}, "role"),
    ]
    for role, unit, field in bad:
        with pytest.raises(InvalidInput) as err:
            create_key(f, cat, role, "x", **unit)
        assert err.value.field == field, (role, unit)
    with pytest.raises(InvalidInput) as err:
        create_key(f, cat, Role.AUDITOR, "n" * 101)
    assert err.value.field == "name"
    assert list_keys(f, include_revoked=True) == []
    _, scoped = create_key(f, cat, Role.DISPATCHER, "street centre", scope=street)
    _, comm = create_key(f, cat, Role.COMMUNITY, "grid team", scope=community)
    assert (scoped.scope, comm.scope) == (street, community)


@pytest.fixture
def cli_env(runtime: Runtime, ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", ledger_url)
    reset_runtime()
    yield
    reset_runtime()


def test_cli_create_list_revoke(cli_env: None, runtime: Runtime) -> None:
    runner = CliRunner()
    dept = next(d for d in sorted(runtime.catalog.departments) if d != "COMMUNITY")
    made = runner.invoke(
        cli, ["keys", "create", "--role", "department", "--department", dept, "--name", "sys"]
    )
    assert made.exit_code == 0, made.output
    token = re.search(r"gg_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", made.output)
    assert token is not None
    prefix = token.group(0)[3:11]
    assert KeyVerifier(runtime.book.factory).verify(token.group(0)) is not None
    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0 and prefix in listed.output and token.group(0) not in listed.output
    refused = runner.invoke(cli, ["keys", "create", "--role", "department", "--name", "x"])
    assert refused.exit_code == 2 and "department" in refused.output
    unknown = runner.invoke(cli, ["keys", "create", "--role", "mayor", "--name", "x"])
    assert unknown.exit_code == 2 and "--role" in unknown.output
    gone = runner.invoke(cli, ["keys", "revoke", prefix])
    assert gone.exit_code == 0 and "revoked" in gone.output
    assert KeyVerifier(runtime.book.factory, ttl=0).verify(token.group(0)) is None
    assert runner.invoke(cli, ["keys", "revoke", "ffffffff"]).exit_code == 2


def test_bad_launch_modes_are_refused(cli_env: None, runtime: Runtime) -> None:
    from gridgov.api.app import create_app

    refused = CliRunner().invoke(cli, ["api", "--mode", "sometimes"])
    assert refused.exit_code == 2 and "--mode" in refused.output
    with pytest.raises(InvalidInput) as err:
        create_app(runtime, "sometimes")
    assert err.value.field == "launch_mode"
    with pytest.raises(InvalidInput) as err:
        create_app(runtime, "inline")  # flows use the process runtime, not this one
    assert err.value.field == "rt"
    assert create_app(runtime, "none").state.gateway.service.mode == "none"


def test_keys_create_help_lists_every_key_role() -> None:
    from gridgov.domain.enums import KEY_ROLES

    shown = CliRunner().invoke(cli, ["keys", "create", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    for role in KEY_ROLES:
        assert role.value in shown.output, role
    assert "system" not in shown.output.split("--role", 1)[1].split("--name", 1)[0]


def test_an_unbound_key_never_reads_the_catalogue(runtime: Runtime) -> None:
    """``gridgov keys create`` passes a loader: only department/community codes need it."""
    calls: list[int] = []

    def loader() -> Catalog:
        calls.append(1)
        return runtime.catalog

    for role in (Role.CITIZEN, Role.MACHINE, Role.DISPATCHER):
        create_key(runtime.book.factory, loader, role, f"{role} app")
    assert calls == []
    dept = next(d for d in sorted(runtime.catalog.departments) if d != "COMMUNITY")
    create_key(runtime.book.factory, loader, Role.DEPARTMENT, "dept", department=dept)
    assert calls == [1]
    with pytest.raises(InvalidInput):
        create_key(runtime.book.factory, loader, Role.DEPARTMENT, "d", department="NOPE")
