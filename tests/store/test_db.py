"""The database: created on first use, refused at another schema, UTC kept."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlmodel import select
from typer.testing import CliRunner

from tracker.cli import app
from tracker.errors import ConfigError, StoreError
from tracker.store.db import (
    alembic_config,
    open_engine,
    session_scope,
    upgrade_schema,
)
from tracker.store.models import Revision, Source

pytestmark = pytest.mark.database

# The newest file in tracker/store/migrations/versions.
HEAD = "0003"


def schema_revision(url: str) -> str | None:
    with open_engine(url, check=False).connect() as connection:
        return connection.execute(
            text("select version_num from alembic_version")
        ).scalar()


def set_revision(url: str, revision: str) -> None:
    """Pretend the schema was left at ``revision`` (or written by a newer tracker)."""
    with open_engine(url, check=False).begin() as connection:
        connection.execute(
            text("update alembic_version set version_num = :r"), {"r": revision}
        )


def build_schema_at(url: str, revision: str) -> None:
    """Create the schema as the release with ``revision`` left it."""
    with open_engine(url, check=False).begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_first_open_creates_the_schema(database_url: str) -> None:
    engine = open_engine(database_url)

    assert {"source", "revision", "entry", "event", "outbox", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )
    assert schema_revision(database_url) == HEAD


@pytest.mark.sqlite_only
def test_first_open_creates_the_sqlite_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "tracker.db"

    open_engine(f"sqlite:///{path}")

    assert path.exists()


def test_reopening_keeps_the_data(database_url: str) -> None:
    with session_scope(open_engine(database_url)) as session:
        session.add(Source(name="a", kind="git", location="/r", path="p.md"))

    with session_scope(open_engine(database_url)) as session:
        assert [s.name for s in session.exec(select(Source)).all()] == ["a"]


def test_an_older_schema_is_refused_with_the_command_to_fix_it(
    database_url: str,
) -> None:
    open_engine(database_url)
    set_revision(database_url, "0002")

    with pytest.raises(StoreError) as caught:
        open_engine(database_url)

    assert str(caught.value) == (
        f"the database schema is at revision 0002 and this tracker needs {HEAD}; "
        "back up the database, then run 'tracker db upgrade'"
    )


def test_a_newer_schema_is_refused_and_not_touched(database_url: str) -> None:
    open_engine(database_url)
    set_revision(database_url, "9999")

    with pytest.raises(StoreError, match="revision 9999, newer than this tracker"):
        open_engine(database_url)
    with pytest.raises(StoreError, match="newer than this tracker"):
        upgrade_schema(open_engine(database_url, check=False))

    assert schema_revision(database_url) == "9999"


def test_upgrade_from_an_older_schema_keeps_rows_and_adds_columns(
    database_url: str,
) -> None:
    build_schema_at(database_url, "0002")
    engine = open_engine(database_url, check=False)
    with engine.begin() as connection:
        connection.execute(
            text(
                "insert into source (name, kind, location, path, consecutive_failures,"
                " created_at) values ('kept', 'git', '/r', 'p.md', 0, :at)"
            ),
            {"at": datetime(2031, 1, 1, tzinfo=UTC)},
        )

    before = upgrade_schema(engine)

    assert (before.current, before.head) == ("0002", HEAD)
    assert schema_revision(database_url) == HEAD
    with session_scope(open_engine(database_url)) as session:
        row = session.exec(select(Source)).one()
    assert (row.name, row.poll_etag, row.next_sync_at) == ("kept", None, None)


def test_processes_starting_at_once_on_a_new_database_migrate_once(
    database_url: str,
) -> None:
    opener = f"from tracker.store.db import open_engine; open_engine({database_url!r})"
    starts = [
        subprocess.Popen([sys.executable, "-c", opener], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [start.communicate(timeout=60)[1] for start in starts]

    assert [start.returncode for start in starts] == [0, 0, 0, 0], errors
    assert schema_revision(database_url) == HEAD


def test_db_commands_report_and_upgrade(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "tracker.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n[tracker]\ndata_dir = "{tmp_path}"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    build_schema_at(database_url, "0002")

    current = runner.invoke(app, ["--config", str(config), "db", "current"])
    listing = runner.invoke(app, ["--config", str(config), "list"])
    upgrade = runner.invoke(app, ["--config", str(config), "db", "upgrade"])
    again = runner.invoke(app, ["--config", str(config), "db", "upgrade"])
    after = runner.invoke(app, ["--config", str(config), "db", "current", "--json"])

    assert current.exit_code == 0
    assert current.stdout.startswith("0002: the database schema is at revision 0002")
    assert listing.exit_code == 1
    assert "run 'tracker db upgrade'" in listing.stderr
    assert upgrade.stdout == f"database schema upgraded from revision 0002 to {HEAD}\n"
    assert again.stdout == f"database schema is up to date at revision {HEAD}\n"
    assert '"up_to_date": true' in after.stdout


def test_instants_come_back_as_the_same_utc_instant(database_url: str) -> None:
    engine = open_engine(database_url)
    eastern = timezone(timedelta(hours=-5))
    written = datetime(2020, 2, 12, 9, 0, tzinfo=eastern)
    with session_scope(engine) as session:
        source = Source(name="a", kind="git", location="/r", path="p.md")
        session.add(source)
        session.flush()
        session.add(
            Revision(
                source_id=source.id or 0,
                commit="c" * 40,
                committed_at=written,
                path="p.md",
                entry_count=0,
            )
        )

    with session_scope(engine) as session:
        stored = session.exec(select(Revision)).one().committed_at

    assert stored == datetime(2020, 2, 12, 14, 0, tzinfo=UTC)
    assert stored.tzinfo == UTC


def test_naive_datetimes_are_refused(database_url: str) -> None:
    engine = open_engine(database_url)

    with (
        pytest.raises(Exception, match="naive datetime"),
        session_scope(engine) as session,
    ):
        session.add(
            Source(
                name="a",
                kind="git",
                location="/r",
                path="p.md",
                last_synced_at=datetime(2020, 1, 1),
            )
        )


def test_bad_url_is_a_config_error_that_does_not_repeat_it() -> None:
    with pytest.raises(ConfigError) as caught:
        open_engine("nonsense:secret")

    assert "not a URL" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_an_unknown_scheme_is_a_config_error_naming_the_ones_that_work() -> None:
    with pytest.raises(ConfigError) as caught:
        open_engine("postgresql+pyscopg://tracker:hunter2@127.0.0.1/tracker")

    assert str(caught.value) == (
        "unknown database url scheme 'postgresql+pyscopg'; the tracker runs on "
        "'sqlite:///path/tracker.db' or 'postgresql+psycopg://user@host/db'"
    )


@pytest.mark.sqlite_only
def test_unreachable_database_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")

    with pytest.raises(StoreError, match="cannot open the database"):
        open_engine(f"sqlite:///{blocker / 'tracker.db'}")


def test_unreachable_postgresql_names_the_fix() -> None:
    with pytest.raises(StoreError) as caught:
        open_engine("postgresql://tracker:hunter2@127.0.0.1:9/tracker")

    message = str(caught.value)
    assert message.startswith("cannot open the database: ")
    assert "check [database] url (or TRACKER_DATABASE_URL)" in message
    assert "hunter2" not in message
