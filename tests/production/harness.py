"""The production stack as real processes: a ``prefect server``, ``gridgov serve`` workers and
the gateway (``gridgov api``), on a PostgreSQL ledger in a schema of its own (``pg_ledger``).
Shared by the CI fault test (test_stack_faults.py), the scheduler test and the fault drill.

Each process gets its own ``PREFECT_HOME`` and a free port, and is killed (its whole process
group) when the context ends, whatever happened. Waits poll against generous deadlines: these
tests run on a loaded 2-core machine, so nothing here measures speed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from gridgov.item_catalog.loader import Catalog
    from gridgov.runtime import Runtime

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 120, every: float = 0.5
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            got = probe()
            if got:
                return got
        except Exception as exc:  # a probe of a starting server may fail: keep polling
            last = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@dataclass
class Proc:
    """A subprocess in its own process group, its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: killing it kills its flow-run children
        )
        out.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            with suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill_group(self) -> None:
        """SIGKILL the process and everything it started (flow-run subprocesses too)."""
        if self.popen is None:
            return
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.popen.wait(15)

    def tail(self, n: int = 60) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GRIDGOV_"))}
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class PrefectServer:
    """``prefect server start`` with its own home (and database) on a free port."""

    home: Path
    port: int = field(default_factory=free_port)
    database_url: str | None = None
    ui: bool = False  # serve the UI too (tests/test_browser.py)
    proc: Proc | None = None

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def env(self) -> dict[str, str]:
        env = base_env(
            PREFECT_HOME=str(self.home),
            PREFECT_API_URL=self.api_url,
            # The scheduler looks for deployments to schedule every 2 s instead of 60 s.
            PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
            PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS="5",
            # A few runs ahead are enough for a test (the default, 100, is a burst of inserts).
            PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS="2",
            PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS="5",
        )
        if self.database_url:
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = self.database_url
        if self.ui:
            env["PREFECT_SERVER_UI_ENABLED"] = "true"
            env["PREFECT_UI_URL"] = self.ui_url
        return env

    def start(self) -> PrefectServer:
        self.proc = Proc(
            "prefect-server",
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *(() if self.ui else ("--no-ui",)),
            ],
            self.env(),
            self.home / "server.log",
        ).start()
        wait_for(f"prefect server on {self.port}", self.healthy, timeout=180)
        return self

    def healthy(self) -> bool:
        if self.proc is None or not self.proc.alive():
            raise AssertionError(f"prefect server exited:\n{self.proc and self.proc.tail()}")
        return httpx.get(f"{self.api_url}/health", timeout=5).status_code == 200

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill_group()


def gridgov_serve(
    server: PrefectServer,
    ledger_url: str,
    log: Path,
    limit: int = 4,
    items: list[str] | None = None,
    **env: str,
) -> Proc:
    """``gridgov serve`` against ``server`` and the ledger at ``ledger_url``; with ``items``,
    only those item flows (registering ~190 deployments is most of a serve's start-up)."""
    only = ["--items", ",".join(items)] if items else []
    return Proc(
        "gridgov-serve",
        [
            str(Path(sys.executable).parent / "gridgov"),
            "serve",
            "--limit",
            str(limit),
            "--poll",
            "1",
            *only,
        ],
        base_env(
            PREFECT_HOME=str(server.home),
            PREFECT_API_URL=server.api_url,
            GRIDGOV_DATABASE_URL=ledger_url,
            GRIDGOV_HOME=str(log.parent),
            **env,
        ),
        log,
    ).start()


@contextmanager
def prefect_server(
    tmp: Path, database_url: str | None = None, *, ui: bool = False
) -> Iterator[PrefectServer]:
    server = PrefectServer(
        tmp / f"prefect-{uuid.uuid4().hex[:6]}", database_url=database_url, ui=ui
    )
    try:
        yield server.start()
    finally:
        server.stop()


@contextmanager
def pg_database(admin_url: str, prefix: str = "e_prefect") -> Iterator[str]:
    """A whole PostgreSQL database of our own (Prefect's server wants one), dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    try:
        url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where datname = :n and pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'drop database if exists "{name}"'))
        admin.dispose()


@contextmanager
def pg_ledger(admin_url: str, catalog: Catalog, prefix: str) -> Iterator[Runtime]:
    """A migrated PostgreSQL ledger in a schema of its own (``<prefix>_<random>``, the
    stack's processes share it through ``search_path``), dropped after."""
    from gridgov.runtime import build_runtime
    from gridgov.settings import Settings

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    url = make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
    rt = build_runtime(Settings(database_url=url.render_as_string(hide_password=False)), catalog)
    try:
        rt.init_ledger()
        yield rt
    finally:
        rt.engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


def gateway(env: dict[str, str], log: Path, workers: int = 2) -> tuple[Proc, str]:
    """``gridgov api`` with ``workers`` uvicorn workers on a free port, once it answers."""
    port = free_port()
    proc = Proc(
        "gateway",
        [
            str(Path(sys.executable).parent / "gridgov"),
            "api",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env,
        log,
    ).start()
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.alive(), proc.tail()
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200

    wait_for("the gateway", up, timeout=120)
    return proc, base


def named(ledger_url: str, application_name: str) -> str:
    """The ledger URL with PostgreSQL's ``application_name`` set: a process's connections (and
    its flow-run children's, which inherit the environment) show it in ``pg_stat_activity``."""
    url = make_url(ledger_url).update_query_dict({"application_name": application_name})
    return url.render_as_string(hide_password=False)


def outstanding(rt: Runtime) -> tuple[int, int]:
    """Owed runs not settled and notices not sent yet."""
    from gridgov.ledger.models import Notification, OwedRun

    with rt.book.factory() as s:
        owed = s.scalar(
            select(func.count()).select_from(OwedRun).where(OwedRun.settled_at.is_(None))
        )
        unsent = s.scalar(
            select(func.count()).select_from(Notification).where(Notification.status == "pending")
        )
    return int(owed or 0), int(unsent or 0)
