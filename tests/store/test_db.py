"""The database: created on first use, migrated automatically, UTC kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlmodel import select

from tracker.errors import StoreError
from tracker.store.db import open_engine, session_scope
from tracker.store.models import Revision, Source


def test_first_open_creates_the_file_and_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "tracker.db"

    engine = open_engine(f"sqlite:///{path}")

    assert path.exists()
    assert {"source", "revision", "entry", "event", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )
    with engine.connect() as connection:
        assert (
            connection.execute(text("select version_num from alembic_version")).scalar()
            == "0002"
        )


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    with session_scope(open_engine(url)) as session:
        session.add(Source(name="a", kind="git", location="/r", path="p.md"))

    with session_scope(open_engine(url)) as session:
        assert [s.name for s in session.exec(select(Source)).all()] == ["a"]


def test_instants_come_back_as_the_same_utc_instant(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
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


def test_naive_datetimes_are_refused(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'tracker.db'}")

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


def test_bad_url_is_a_store_error_saying_what_to_write() -> None:
    with pytest.raises(StoreError, match="bad database url 'nonsense'"):
        open_engine("nonsense")


def test_unreachable_database_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")

    with pytest.raises(StoreError, match="cannot open the database"):
        open_engine(f"sqlite:///{blocker / 'tracker.db'}")
