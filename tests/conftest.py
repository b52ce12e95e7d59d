"""Fixtures shared by every test: pages, the real vendor history, rules, and
the database each test runs on.

Tests marked ``database`` run twice: on SQLite, and on PostgreSQL when
``$TRACKER_TEST_POSTGRES_URL`` names a server where its user may create
databases (``eval "$(.ci/postgres start)"`` starts a throw-away one). Each
PostgreSQL run gets a database of its own, named to the tracker through
``$TRACKER_DATABASE_URL`` and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from tests.notify.slack_api import SlackApiServer
from tracker.config import DATABASE_URL_VARIABLE
from tracker.parsing import PageRules

DATA = Path(__file__).parent / "data"
PAGES = DATA / "pages"
BUNDLE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "fixtures"
    / "clarifai-upcoming-history.bundle"
)


def make_rules(
    zone: str = "America/New_York", reference: datetime | None = None
) -> PageRules:
    """Rules with the default heading patterns."""
    return PageRules.build(
        ZoneInfo(zone), reference or datetime(2030, 6, 1, tzinfo=UTC)
    )


@pytest.fixture
def rules() -> PageRules:
    """Rules for the sample pages: US Eastern, read as of 2030-06-01."""
    return make_rules()


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The real 31-revision history of a vendor's change page."""
    if not BUNDLE.exists():
        pytest.skip(
            f"vendor history bundle not found at {BUNDLE}; place "
            "clarifai-upcoming-history.bundle in ../shared/fixtures next to the repository"
        )
    return BUNDLE


POSTGRES_VARIABLE = "TRACKER_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test marked ``database`` on each backend."""
    definition = metafunc.definition
    if "backend" not in metafunc.fixturenames:
        return
    if definition.get_closest_marker("postgresql_only") is not None:
        metafunc.parametrize("backend", ["postgresql"], indirect=True)
    elif (
        definition.get_closest_marker("database") is not None
        and definition.get_closest_marker("sqlite_only") is None
    ):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database a test runs on: "sqlite" unless parametrized."""
    return str(getattr(request, "param", "sqlite"))


# Engines that connected during the current test, closed when it ends: the
# code under test leaves pooled connections to the garbage collector.
ENGINES: set[Engine] = set()


@event.listens_for(Engine, "engine_connect")
def _remember_engine(connection: object) -> None:
    ENGINES.add(connection.engine)  # type: ignore[attr-defined]


def dispose_engines() -> None:
    while ENGINES:
        ENGINES.pop().dispose()


@pytest.fixture(autouse=True)
def database_url(
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """The URL of this test's own empty database.

    On SQLite, the tracker's default (a file in the config's data_dir) is
    left alone and ``TRACKER_DATABASE_URL`` is unset, whatever the shell
    says; the URL given is a file in ``tmp_path``. On PostgreSQL the
    variable points every config at a new database.
    """
    if backend == "sqlite":
        monkeypatch.delenv(DATABASE_URL_VARIABLE, raising=False)
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        dispose_engines()
        return
    server = postgres_server()
    name = f"tracker_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        monkeypatch.setenv(DATABASE_URL_VARIABLE, url)
        yield url
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def postgres_server() -> str:
    """The PostgreSQL server's URL, or skip saying how to get one."""
    url = os.environ.get(POSTGRES_VARIABLE, "").strip()
    if not url:
        pytest.skip(
            f"PostgreSQL run skipped: set {POSTGRES_VARIABLE} to a server where "
            'the user may create databases, e.g. eval "$(.ci/postgres start)"'
        )
    return url


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    """A Slack Web API stand-in on 127.0.0.1, for daemons run as processes."""
    server = SlackApiServer()
    server.start()
    yield server
    server.stop()
