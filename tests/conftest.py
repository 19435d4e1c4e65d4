"""Fixtures: every database test runs on SQLite and on PostgreSQL.

Each test gets a database of its own, copied from a template migrated once per run
(a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), and dropped
afterwards. PostgreSQL is reached at ``LEDGER_TEST_POSTGRES_URL`` (default: the local
server with trust auth). When it is down the PostgreSQL half is skipped locally, but
with ``CI=true`` the run fails instead: CI never skips PostgreSQL silently.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.settings import Settings
from ledger import Database, Ledger, migrate
from tests.builders import CHECKPOINT_KEY, TOKEN_SECRET, Clock

if TYPE_CHECKING:
    from playwright.async_api import Browser

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BACKENDS = ("sqlite", "postgres")

MANY_CONNECTIONS = pytest.mark.xdist_group("many-postgres-connections")
"""For modules that open dozens of PostgreSQL connections at once (several pools racing,
the benchmark's 32 raw writers): they take turns in one worker process, so that two of
them never meet and pass the server's 100 connections."""


def _postgres_reachable() -> str | None:
    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        return f"{type(error).__name__}: {error}"
    return None


_POSTGRES_DOWN = _postgres_reachable()
if _POSTGRES_DOWN and os.environ.get("CI") == "true":
    raise pytest.UsageError(f"CI requires PostgreSQL at {POSTGRES_URL}, which is unreachable: {_POSTGRES_DOWN}")


def _asyncpg_url(database: str) -> str:
    base = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class Backend:
    """Makes fresh, migrated databases of one kind."""

    name: str
    template: str
    workdir: Path

    async def create(self) -> str:
        if self.name == "sqlite":
            path = self.workdir / f"{uuid.uuid4().hex}.sqlite3"
            shutil.copyfile(self.template, path)
            return f"sqlite+aiosqlite:///{path}"
        database = f"ledger_test_{uuid.uuid4().hex[:12]}"
        await _admin(f'CREATE DATABASE "{database}" TEMPLATE "{self.template}"')
        return _asyncpg_url(database)

    async def drop(self, url: str) -> None:
        if self.name == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(url.split("///", 1)[1] + suffix).unlink(missing_ok=True)
        else:
            await _admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def drop_soon(self, url: str) -> None:
        """Drop ``url`` while the next test runs: a DROP DATABASE waits ~0.15 s on the
        disk, and the next test needs nothing of it. ``_drop_templates`` waits for all."""
        task = asyncio.get_running_loop().create_task(self.drop(url))
        _dropping.add(task)
        task.add_done_callback(_dropping.discard)


async def _make_template(name: str, workdir: Path) -> Backend:
    if name == "sqlite":
        path = workdir / "template.sqlite3"
        db = Database(f"sqlite+aiosqlite:///{path}", create=True)
        await migrate(db)
        await db.dispose()
        return Backend(name, str(path), workdir)
    template = f"ledger_template_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{template}"')
    db = Database(_asyncpg_url(template))
    await migrate(db)
    await db.dispose()
    return Backend(name, template, workdir)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres_only: the behaviour under test exists only on PostgreSQL")
    config.addinivalue_line("markers", "sqlite_only: the behaviour under test is the same on any database")
    config.addinivalue_line("markers", "clocked: the test's ledger tells time by the `clock` fixture")
    # pytest-xdist declares it too; declared here as well for a run without xdist.
    config.addinivalue_line("markers", "xdist_group(name): run these tests in one worker process")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        params = []
        only_postgres = metafunc.definition.get_closest_marker("postgres_only") is not None
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        for name in ("postgres",) if only_postgres else ("sqlite",) if only_sqlite else BACKENDS:
            skip = name == "postgres" and _POSTGRES_DOWN
            marks = [pytest.mark.skip(reason=f"PostgreSQL unreachable: {_POSTGRES_DOWN}")] if skip else []
            params.append(pytest.param(name, marks=marks, id=name))
        metafunc.parametrize("backend", params, indirect=True, scope="session")


_templates: dict[str, Backend] = {}
_dropping: set[asyncio.Task[None]] = set()


@pytest.fixture(scope="session")
def _workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("databases")


@pytest.fixture(scope="session")
async def backend(request: pytest.FixtureRequest, _workdir: Path) -> AsyncIterator[Backend]:
    name = request.param
    if name not in _templates:
        _templates[name] = await _make_template(name, _workdir)
    yield _templates[name]


@pytest.fixture(scope="session", autouse=True)
async def _drop_templates() -> AsyncIterator[None]:
    yield
    await asyncio.gather(*_dropping)
    for backend in _templates.values():
        if backend.name == "postgres":
            await _admin(f'DROP DATABASE IF EXISTS "{backend.template}" WITH (FORCE)')


@pytest.fixture
async def database_url(backend: Backend) -> AsyncIterator[str]:
    url = await backend.create()
    yield url
    backend.drop_soon(url)


@pytest.fixture
async def empty_database_url(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    """A database of the test's kind with no tables at all, for tests of the migrations."""
    if backend.name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    else:
        name = f"ledger_test_{uuid.uuid4().hex[:12]}"
        await _admin(f'CREATE DATABASE "{name}"')
        url = _asyncpg_url(name)
    yield url
    backend.drop_soon(url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
def _checkpoint_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line reads the test key, and never makes a key file in the working tree."""
    monkeypatch.setenv("LEDGER_CHECKPOINT_KEY", CHECKPOINT_KEY)


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves by hand, stopped at the present; a module overrides it to start
    on a date its rules turn on (a month end, a new year)."""
    return Clock()


@pytest.fixture
def ledger(db: Database, request: pytest.FixtureRequest) -> Ledger:
    """The test's ledger. Marked ``clocked`` (hold times, token and point expiry), it tells time
    by the ``clock`` fixture, which the test advances; otherwise by the wall clock."""
    clocked = request.node.get_closest_marker("clocked") is not None
    clock = {"clock": request.getfixturevalue("clock")} if clocked else {}
    return Ledger(db, checkpoint_key=CHECKPOINT_KEY.encode(), **clock)


def settings(ledger: Ledger, **overrides: object) -> Settings:
    """Test settings for a service on ``ledger``'s database (see ``service_settings``)."""
    return service_settings(ledger.db.url, **overrides)


def service_settings(database_url: str, **overrides: object) -> Settings:
    """Test settings: a known token key, and no write limit unless a test sets one (the
    suite writes far faster than any person would)."""
    return Settings(
        **{
            "database_url": database_url,
            "admin_token": ADMIN_TOKEN,
            "token_secret": TOKEN_SECRET,
            "checkpoint_key": CHECKPOINT_KEY.encode(),
            "writes_per_second": 0,
            **overrides,
        }
    )


def http_client(app: object, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://ledger.test",
        headers=AUTH if headers is None else headers,
    )


@pytest.fixture
async def client(ledger: Ledger) -> AsyncIterator[httpx.AsyncClient]:
    """The service over HTTP, in this event loop, sharing the test's ledger."""
    async with http_client(create_app(settings(ledger), ledger)) as http:
        yield http


PROCESSES = 4
"""Ledgers that race in the concurrency tests, as that many service processes would."""

PROCESS_POOL_SIZE = 8
"""Connections of each racing ledger: 32 race in all, and the suite's other worker keeps
room under the server's 100 connections."""


@pytest.fixture
async def ledgers(database_url: str, ledger: Ledger) -> AsyncIterator[list[Ledger]]:
    """PROCESSES ledgers beside the test's own, each on its own connection pool, on the
    test's database. Row locks and waits on unique indexes are what they test; SQLite has
    one writer and none of either."""
    others = [Ledger(Database(database_url, pool_size=PROCESS_POOL_SIZE)) for _ in range(PROCESSES)]
    yield others
    for other in others:
        await other.db.dispose()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium, one for a module's browser tests (see tests/site.py)."""
    # Imported here so that only the browser modules load Playwright and need Chromium.
    from tests.site import launched_chromium

    async with launched_chromium() as chromium:
        yield chromium


@pytest.fixture
def fresh_database(backend: Backend) -> Iterator[Backend]:
    """For tests that make many databases themselves (stateful tests)."""
    yield backend


_SESSION_STARTED = pytest.StashKey[float]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SESSION_STARTED] = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Say where the browser tests left their pictures, if they ran: in this process or
    in a worker process of pytest-xdist, so the folder itself is the evidence."""
    from tests.site import SCREENSHOTS  # here: tests.site imports this module

    if SCREENSHOTS.is_dir() and SCREENSHOTS.stat().st_mtime >= config.stash[_SESSION_STARTED]:
        terminalreporter.write_line(f"screenshots of the web pages: {SCREENSHOTS}")
