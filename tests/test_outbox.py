"""The outbox under concurrent claims: no row goes to two senders."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from tracker import outbox
from tracker.config import Config
from tracker.store.db import open_engine
from tracker.store.models import Notification

pytestmark = pytest.mark.database

NOW = datetime(2031, 1, 1, tzinfo=UTC)


def test_concurrent_claims_never_take_a_row_twice(database_url: str) -> None:
    engine = open_engine(database_url)
    config = Config.model_validate(
        {
            "channels": [
                {"name": "team", "type": "slack", "channel": "C1", "token_env": "T"}
            ]
        }
    )
    with Session(engine) as session:
        for number in range(60):
            due = NOW - timedelta(minutes=number)
            session.add(
                Notification(
                    key=f"alert:team:{number}",
                    channel="team",
                    kind="alert",
                    due_at=due,
                    next_attempt_at=due,
                )
            )
        session.commit()

    taken: list[list[int]] = []
    start = threading.Barrier(4)

    def claim(worker: str) -> None:
        mine: list[int] = []
        start.wait()
        for _ in range(10):
            with Session(engine) as session:
                rows = outbox.claim_due(session, config, NOW, worker=worker, limit=7)
                mine.extend(row.id or 0 for row in rows)
                session.commit()
        taken.append(mine)

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    claimed = [row_id for mine in taken for row_id in mine]
    assert len(claimed) == len(set(claimed)) == 60
    with Session(engine) as session:
        stored = session.exec(select(Notification)).all()
        assert {row.status for row in stored} == {"sending"}
        assert all(row.attempts == 1 for row in stored)


def test_insert_once_counts_what_it_inserted(database_url: str) -> None:
    engine = open_engine(database_url)
    row = Notification(
        key="alert:team:1",
        channel="team",
        kind="alert",
        due_at=NOW,
        next_attempt_at=NOW,
    )
    with Session(engine) as session:
        first = outbox.insert_once(session, row)
        again = outbox.insert_once(session, row)
        session.commit()
        stored = session.exec(select(Notification)).all()

    assert (first, again) == (1, 0)
    assert [r.key for r in stored] == ["alert:team:1"]
