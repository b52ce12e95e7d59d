"""Time planning and claiming in an outbox of a million rows, SQLite and PostgreSQL.

Two stores are filled on each database: a large one with 100,000 entries
from five sources, dated over eight years, and 1,000,000 outbox rows
(reminders, alerts and digests sent, skipped, cancelled or failed, and a few
hundred reminders still pending, about 200 of them due now), and a small one with
1,000 entries and 10,000 rows that holds the same pending reminders. In both
are measured planning (``outbox.plan``, as every dispatch round starts),
claiming the due rows with ``outbox.claim_due`` in batches and one at a time
(as ``dispatch`` does), and the plan of the due query, which must search an
index rather than scan the outbox.

PostgreSQL runs when ``--postgres URL`` or ``$TRACKER_TEST_POSTGRES_URL``
names a server where the user may create databases; each store is a
database of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any

from common import (
    human,
    median,
    print_machine,
    print_table,
    quiet_tracker_logs,
    spread,
    timed,
)
from sqlalchemy import JSON, Table, create_engine, event, func, insert, select, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, col

from tracker import outbox
from tracker.config import Config, parse_duration
from tracker.parsing.model import Precision, Status
from tracker.planning import EntryState, digest_key, plan_reminders
from tracker.store.db import open_engine, session_scope
from tracker.store.models import Entry, Event, Notification, Revision, Source

POSTGRES_VARIABLE = "TRACKER_TEST_POSTGRES_URL"
NOW = datetime(2030, 6, 3, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
LARGE = (100_000, 1_000_000)
SMALL = (1_000, 10_000)
SOURCES = 5
HISTORY_DAYS = 8 * 365
# A change is listed on its page this long before its date.
NOTICE = timedelta(days=90)
FIRST_DAY = TODAY - timedelta(days=HISTORY_DAYS) - NOTICE - timedelta(days=1)
DAYS = (TODAY - FIRST_DAY).days + 1
# Dated tomorrow: their "1d" reminders fell due at 09:00 today, 3 hours ago.
DUE_ENTRIES = 100
# Dated over the next 80 days, listed already: their reminders wait in the outbox.
LATER_ENTRIES = 100
SLACK_CHANNEL = "C0TRACKER"
TOKEN_VARIABLE = "TRACKER_BENCH_SLACK_TOKEN"
CLAIM_TARGET = 3.0
LOAD_CHUNK = 10_000


@dataclass(frozen=True)
class PageEntry:
    """A generated change: its source, its date, when it was listed and done."""

    id: int
    source_id: int
    day: date
    added_at: datetime
    completed_at: datetime | None

    @property
    def title(self) -> str:
        return f"Retire widgets endpoint {self.id:06d}"

    @property
    def details(self) -> str:
        return (
            f"Calls to `GET /v1/widgets/{self.id}` will return 410; use `/v2` instead."
        )

    @property
    def due_at(self) -> datetime:
        return datetime.combine(self.day, time(0), UTC)

    @property
    def added_event_id(self) -> int:
        return 2 * self.id - 1

    @property
    def completed_event_id(self) -> int:
        return 2 * self.id


def revision_time(day: date) -> datetime:
    """When the page revision of ``day`` was committed: 06:00 UTC."""
    return datetime.combine(day, time(6), UTC)


def page_entry(index: int, day: date) -> PageEntry:
    """Entry ``index + 1`` dated ``day``, listed ahead of it, done a day after."""
    completed = revision_time(day + timedelta(days=1)) if day < TODAY else None
    return PageEntry(
        index + 1, index % SOURCES + 1, day, revision_time(day - NOTICE), completed
    )


def lay_out_entries(count: int) -> list[PageEntry]:
    """The entries of a store: the pending ones first, then eight years of past."""
    past = count - DUE_ENTRIES - LATER_ENTRIES
    entries = []
    for index in range(count):
        if index < DUE_ENTRIES:
            day = TODAY + timedelta(days=1)
        elif index < DUE_ENTRIES + LATER_ENTRIES:
            ahead = (index - DUE_ENTRIES) * 80 // LATER_ENTRIES
            day = TODAY + timedelta(days=2 + ahead)
        else:
            back = (index - DUE_ENTRIES - LATER_ENTRIES) * HISTORY_DAYS // past
            day = TODAY - timedelta(days=1 + back)
        entries.append(page_entry(index, day))
    return entries


def source_name(source_id: int) -> str:
    return f"vendor-{source_id}"


def revision_id(source_id: int, at: datetime) -> int:
    """The revision of ``source_id`` committed on the day of ``at``."""
    return (source_id - 1) * DAYS + (at.date() - FIRST_DAY).days + 1


def source_rows() -> Iterator[dict[str, Any]]:
    for source_id in range(1, SOURCES + 1):
        yield {
            "id": source_id,
            "name": source_name(source_id),
            "kind": "git",
            "location": f"https://git.example.com/{source_name(source_id)}.git",
            "path": "docs/changes.md",
            "last_commit": f"{source_id:040x}",
            "last_synced_at": NOW,
            "consecutive_failures": 0,
            "created_at": revision_time(FIRST_DAY),
        }


def revision_rows() -> Iterator[dict[str, Any]]:
    """One revision a day for every source, over the whole history."""
    for source_id in range(1, SOURCES + 1):
        for offset in range(DAYS):
            at = revision_time(FIRST_DAY + timedelta(days=offset))
            yield {
                "id": revision_id(source_id, at),
                "source_id": source_id,
                "commit": f"{revision_id(source_id, at):040x}",
                "committed_at": at,
                "path": "docs/changes.md",
                "entry_count": 100,
                "fetched_at": at,
            }


def entry_rows(entries: Iterable[PageEntry]) -> Iterator[dict[str, Any]]:
    for entry in entries:
        done = entry.completed_at is not None
        yield {
            "id": entry.id,
            "source_id": entry.source_id,
            "key": f"retire-widgets-endpoint-{entry.id:06d}",
            "status": (Status.COMPLETED if done else Status.UPCOMING).value,
            "title": entry.title,
            "date": entry.day,
            "date_text": f"{entry.day:%B} {entry.day.day}, {entry.day.year}",
            "due_at": entry.due_at,
            "precision": Precision.DAY.value,
            "details": entry.details,
            "details_markdown": entry.details,
            "links": [],
            "section": "Completed Changes" if done else "Upcoming Changes",
            "warnings": [],
            "removed": False,
            "first_revision_id": revision_id(entry.source_id, entry.added_at),
            "last_revision_id": revision_id(
                entry.source_id, entry.completed_at or entry.added_at
            ),
            "updated_at": entry.completed_at or entry.added_at,
        }


def event_rows(entries: Iterable[PageEntry]) -> Iterator[dict[str, Any]]:
    """Each entry's "added" event, and its "moved" to completed if it is done."""
    for entry in entries:
        dated = {
            "new_date": entry.day,
            "new_due_at": entry.due_at,
            "new_precision": Precision.DAY.value,
        }
        added = {
            "id": entry.added_event_id,
            "source_id": entry.source_id,
            "entry_id": entry.id,
            "revision_id": revision_id(entry.source_id, entry.added_at),
            "kind": "added",
            "title": entry.title,
            "old_date": None,
            "old_due_at": None,
            "old_precision": None,
            "old_status": None,
            **dated,
            "new_status": Status.UPCOMING.value,
            "revision_at": entry.added_at,
            "detected_at": entry.added_at + timedelta(minutes=10),
            "baseline": False,
            "superseded": False,
        }
        yield added
        if entry.completed_at is not None:
            yield added | {
                "id": entry.completed_event_id,
                "revision_id": revision_id(entry.source_id, entry.completed_at),
                "kind": "moved",
                "old_date": entry.day,
                "old_due_at": entry.due_at,
                "old_precision": Precision.DAY.value,
                "old_status": Status.UPCOMING.value,
                "new_status": Status.COMPLETED.value,
                "revision_at": entry.completed_at,
                "detected_at": entry.completed_at + timedelta(minutes=10),
            }


def history_status(key: str) -> str:
    """How a past message ended, mostly sent: fixed per key."""
    draw = zlib.crc32(key.encode()) % 100
    if draw < 85:
        return "sent"
    if draw < 95:
        return "skipped"
    return "cancelled" if draw < 99 else "failed"


def outbox_row(
    key: str, channel: str, kind: str, due_at: datetime, status: str, **fields: Any
) -> dict[str, Any]:
    """An outbox row as it is once ``status`` was reached."""
    row: dict[str, Any] = {
        "key": key,
        "channel": channel,
        "kind": kind,
        "source_id": None,
        "entry_id": None,
        "event_id": None,
        "lead": None,
        "target_at": None,
        "due_at": due_at,
        "status": status,
        "attempts": 0,
        "next_attempt_at": due_at,
        "claimed_by": None,
        "claimed_until": None,
        "delivered_posts": 0,
        "late": False,
        "sent_at": None,
        "last_error": None,
        "response": None,
        "created_at": due_at,
        "updated_at": due_at,
    }
    if status == "sent":
        sent_at = due_at + timedelta(seconds=30)
        row |= {"attempts": 1, "delivered_posts": 1, "sent_at": sent_at}
        row |= {"response": f"ok channel={SLACK_CHANNEL} ts=1.0 posts=1"}
        row["updated_at"] = sent_at
    elif status == "failed":
        row |= {"attempts": 5, "last_error": "Slack answered HTTP 500 five times"}
    elif status != "pending":
        row["last_error"] = f"{status} after its time had passed"
    return row | fields


def reminder_rows(entry: PageEntry, config: Config) -> Iterator[dict[str, Any]]:
    """The reminders the channels had for ``entry`` while it was upcoming.

    They are planned by the tracker's own planning, so that the keys are
    those ``outbox.plan`` looks for: pending if their time is within the late
    grace or ahead, else settled long ago.
    """
    state = EntryState(
        entry_id=entry.id,
        source=source_name(entry.source_id),
        title=entry.title,
        details=entry.details,
        status=Status.UPCOMING,
        date=entry.day,
        due_at=entry.due_at,
        precision=Precision.DAY,
        known_since=entry.added_at,
    )
    oldest = NOW - parse_duration(config.notify.late_grace)
    for reminder in plan_reminders([state], config.channels, config.notify):
        late = reminder.due_at < oldest
        status = history_status(reminder.key) if late else "pending"
        yield outbox_row(
            reminder.key,
            reminder.channel,
            "reminder",
            reminder.due_at,
            status,
            source_id=entry.source_id,
            entry_id=entry.id,
            lead=reminder.lead,
            target_at=reminder.target_at,
            created_at=entry.added_at,
        )


def alert_rows(entry: PageEntry, config: Config) -> Iterator[dict[str, Any]]:
    """One alert per channel for each of the entry's events, all delivered."""
    events = [(entry.added_event_id, entry.added_at)]
    if entry.completed_at is not None:
        events.append((entry.completed_event_id, entry.completed_at))
    for event_id, at in events:
        for channel in config.channels:
            key = f"alert:{channel.name}:{event_id}"
            failed = zlib.crc32(key.encode()) % 100 == 0
            detected = at + timedelta(minutes=10)
            yield outbox_row(
                key,
                channel.name,
                "alert",
                detected,
                "failed" if failed else "sent",
                source_id=entry.source_id,
                entry_id=entry.id,
                event_id=event_id,
            )


def digest_rows(config: Config) -> Iterator[dict[str, Any]]:
    """Daily digests sent to every channel, going back from yesterday."""
    for back in range(1, HISTORY_DAYS):
        start = datetime.combine(TODAY - timedelta(days=back), time(9), UTC)
        for channel in config.channels:
            key = digest_key(channel.name, start)
            yield outbox_row(key, channel.name, "digest", start, "sent")


def outbox_rows(
    entries: Sequence[PageEntry], config: Config, total: int
) -> Iterator[dict[str, Any]]:
    """``total`` rows: each entry's reminders and alerts, then digests.

    The pending entries come first, so that cutting at ``total`` only ever
    drops history.
    """
    per_entry = (
        row
        for entry in entries
        for row in chain(reminder_rows(entry, config), alert_rows(entry, config))
    )
    return islice(chain(per_entry, digest_rows(config)), total)


def scale_config() -> Config:
    """Two Slack channels with reminders a week and a day ahead, and an email
    channel that gets alerts only."""
    slack = {"type": "slack", "channel": SLACK_CHANNEL, "token_env": TOKEN_VARIABLE}
    return Config.model_validate(
        {
            "channels": [
                {"name": "team", **slack, "reminders": ["7d", "1d"]},
                {"name": "ops", **slack, "reminders": ["7d", "1d"]},
                {
                    "name": "mail",
                    "type": "email",
                    "host": "127.0.0.1",
                    "from": "tracker@example.com",
                    "to": ["team@example.com"],
                },
            ]
        }
    )


def chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def load_rows(engine: Engine, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    """Bulk-insert ``rows`` (all with the same keys); return how many.

    PostgreSQL takes them through COPY, SQLite through executemany, in one
    transaction either way.
    """
    if engine.dialect.name == "postgresql":
        return copy_rows(engine, table, rows)
    count = 0
    with engine.begin() as connection:
        for chunk in chunks(rows, LOAD_CHUNK):
            connection.execute(insert(table), chunk)
            count += len(chunk)
    return count


def copy_rows(engine: Engine, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    """COPY ``rows`` into ``table`` over the engine's psycopg connection."""
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return 0
    names = list(first)
    as_json = {name for name in names if isinstance(table.c[name].type, JSON)}
    columns = ", ".join(f'"{name}"' for name in names)
    count = 0
    raw = engine.raw_connection()
    psycopg_connection: Any = raw.driver_connection
    try:
        with (
            psycopg_connection.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy,
        ):
            for row in chain([first], iterator):
                copy.write_row(
                    [json.dumps(row[n]) if n in as_json else row[n] for n in names]
                )
                count += 1
        raw.commit()
    finally:
        raw.close()
    return count


def fill_store(engine: Engine, size: tuple[int, int], config: Config) -> dict[str, int]:
    """Fill an empty store with ``size`` (entries, outbox rows); count the rows."""
    entries = lay_out_entries(size[0])
    counts = {
        "sources": load_rows(engine, table_of(Source), source_rows()),
        "revisions": load_rows(engine, table_of(Revision), revision_rows()),
        "entries": load_rows(engine, table_of(Entry), entry_rows(entries)),
        "events": load_rows(engine, table_of(Event), event_rows(entries)),
        "outbox": load_rows(
            engine, table_of(Notification), outbox_rows(entries, config, size[1])
        ),
    }
    finish_load(engine)
    return counts


def table_of(model: Any) -> Table:
    table: Table = model.__table__
    return table


def finish_load(engine: Engine) -> None:
    """Leave the store as a long-lived one would be.

    SQLite writes the rows from its log into the file. PostgreSQL moves the
    id sequences past the ids given and gathers the statistics its planner
    needs (autovacuum would, a minute later).
    """
    if engine.dialect.name != "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    with engine.begin() as connection:
        for name in ("source", "revision", "entry", "event"):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                    f'(SELECT max(id) FROM "{name}"))'
                )
            )
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("ANALYZE")
        )


def count_waiting(engine: Engine) -> tuple[int, int]:
    """Pending rows, and of those the ones due now."""
    pending = col(Notification.status) == "pending"
    query = select(func.count()).select_from(table_of(Notification))
    with engine.connect() as connection:
        waiting = connection.execute(query.where(pending)).scalar_one()
        due = connection.execute(
            query.where(pending, col(Notification.next_attempt_at) <= NOW)
        ).scalar_one()
    return int(waiting), int(due)


def database_size(engine: Engine) -> int:
    """Bytes the store takes: the SQLite file and its log, or the database."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            size = connection.execute(
                text("SELECT pg_database_size(current_database())")
            ).scalar_one()
            return int(size)
    database = Path(engine.url.database or "")
    return sum(
        path.stat().st_size
        for path in database.parent.glob(database.name + "*")
        if path.is_file()
    )


def time_plan(engine: Engine, config: Config) -> float:
    """One planning round, rolled back; it must find nothing to change."""
    with Session(engine) as session:
        seconds, result = timed(lambda: outbox.plan(session, config, NOW))
        session.rollback()
    if result.added or result.cancelled:
        raise SystemExit(
            f"planning changed a settled outbox: added {result.added}, "
            f"cancelled {result.cancelled}; the generated reminders do not match"
        )
    return seconds


def time_plan_parts(engine: Engine, config: Config) -> tuple[float, float]:
    """Seconds planning spends reading every entry's state from the event log,
    and then working out the reminders (pure Python); the rest is the outbox."""
    with Session(engine) as session:
        read, states = timed(lambda: outbox.entries_as_of(session, NOW))
    pure, _ = timed(lambda: plan_reminders(states, config.channels, config.notify))
    return read, pure


def drain(engine: Engine, config: Config, batch: int) -> int:
    """Claim every due row, ``batch`` per transaction; return how many."""
    claimed = 0
    while True:
        with session_scope(engine) as session:
            rows = outbox.claim_due(session, config, NOW, worker="bench:1", limit=batch)
        if not rows:
            return claimed
        claimed += len(rows)


def release(engine: Engine) -> None:
    """Put claimed rows back to pending, as they were before the claim."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE outbox SET status = 'pending', attempts = 0, "
                "claimed_by = NULL, claimed_until = NULL WHERE status = 'sending'"
            )
        )


def time_drain(engine: Engine, config: Config, batch: int, due: int) -> float:
    """Seconds to claim all ``due`` rows, which are then released."""
    seconds, claimed = timed(lambda: drain(engine, config, batch))
    release(engine)
    if claimed != due:
        raise SystemExit(f"claimed {claimed} rows, expected the {due} due")
    return seconds


def capture_due_query(engine: Engine, config: Config) -> tuple[str, Any]:
    """The SQL and parameters ``claim_due`` sends to find due rows."""
    seen: list[tuple[str, Any]] = []

    def remember(
        connection: Any, cursor: Any, statement: str, parameters: Any, *args: Any
    ) -> None:
        if (
            "FROM outbox" in statement
            and "ORDER BY outbox.next_attempt_at" in statement
        ):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        with Session(engine) as session:
            outbox.claim_due(session, config, NOW, worker="bench:1", limit=50)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    if not seen:
        raise SystemExit("claim_due sent no query on the outbox ordered by due time")
    return seen[0]


def explain(
    engine: Engine, statement: str, parameters: Any
) -> tuple[list[str], list[str]]:
    """The due query's plan as text, and what in it reads the outbox wholesale."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            lines = [
                row[0]
                for row in connection.exec_driver_sql(
                    f"EXPLAIN {statement}", parameters
                )
            ]
            tree = connection.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) {statement}", parameters
            ).scalar_one()
            return lines, postgres_scans(tree[0]["Plan"])
        rows = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", parameters
        ).all()
    depth: dict[int, int] = {0: -1}
    lines, problems = [], []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
        # SEARCH looks rows up in an index; SCAN reads the table or index whole.
        if " outbox" in detail and not detail.startswith("SEARCH"):
            problems.append(detail)
    return lines, problems


def postgres_scans(node: dict[str, Any]) -> list[str]:
    """Nodes of a JSON plan that read the outbox without an index condition."""
    problems = []
    kind = node["Node Type"]
    if node.get("Relation Name") == "outbox" and kind == "Seq Scan":
        problems.append("Seq Scan on outbox")
    if "Index Name" in node and "Index Cond" not in node:
        problems.append(f"{kind} on {node['Index Name']} without an index condition")
    for child in node.get("Plans", []):
        problems += postgres_scans(child)
    return problems


@dataclass
class Store:
    """One filled store and what was measured on it, in seconds."""

    label: str
    engine: Engine
    counts: dict[str, int]
    fill_seconds: float
    pending: int = 0
    due: int = 0
    plan: list[float] = field(default_factory=list)
    batched: list[float] = field(default_factory=list)
    single: list[float] = field(default_factory=list)
    # Seconds of one plan's two first steps: reading the log, planning.
    plan_parts: tuple[float, float] = (0.0, 0.0)


def fill(label: str, engine: Engine, size: tuple[int, int], config: Config) -> Store:
    seconds, counts = timed(lambda: fill_store(engine, size, config))
    store = Store(label, engine, counts, seconds)
    store.pending, store.due = count_waiting(engine)
    return store


def measure_stores(
    stores: Sequence[Store], config: Config, repeats: int, batch: int
) -> None:
    """Plan and claim on each store in turn, ``repeats`` times, interleaved so
    that a slow moment of the machine hits both alike."""
    for store in stores:
        time_drain(store.engine, config, batch, store.due)  # warm the caches
    for _ in range(repeats):
        for store in stores:
            store.plan.append(time_plan(store.engine, config))
            store.batched.append(time_drain(store.engine, config, batch, store.due))
            store.single.append(time_drain(store.engine, config, 1, store.due))
    for store in stores:
        store.plan_parts = time_plan_parts(store.engine, config)


def report(backend: str, stores: Sequence[Store], batch: int) -> list[str]:
    """Print the figures of one database; return the targets it missed."""
    print(f"\n{backend}")
    print_table(
        [
            "store",
            "entries",
            "events",
            "outbox rows",
            "pending",
            "due",
            "fill s",
            "size",
        ],
        [
            (
                store.label,
                f"{store.counts['entries']:,}",
                f"{store.counts['events']:,}",
                f"{store.counts['outbox']:,}",
                store.pending,
                store.due,
                f"{store.fill_seconds:.0f}",
                human(database_size(store.engine)),
            )
            for store in stores
        ],
    )
    cases = [
        ("plan (outbox.plan)", "plan"),
        (f"claim all due, {batch} per claim", "batched"),
        ("claim all due, 1 per claim", "single"),
    ]
    rows = []
    for name, attribute in cases:
        for store in stores:
            times = getattr(store, attribute)
            label = f"{name}, {store.label}"
            rows.append((label, f"{median(times) * 1000:.0f}", spread(times)))
    print()
    print_table(["case", "median ms", "min-max ms"], rows)
    return compare(backend, stores, batch)


def compare(backend: str, stores: Sequence[Store], batch: int) -> list[str]:
    """Print the large store's figures against the small one's; the misses."""
    small, large = stores
    entries = large.counts["entries"] / small.counts["entries"]
    read, pure = large.plan_parts
    print(
        f"plan large/small: {median(large.plan) / median(small.plan):.1f}x "
        f"for {entries:.0f}x the entries, "
        f"{median(large.plan) / large.counts['entries'] * 1e6:.0f} us per entry; "
        f"on the large store reading the event log (entries_as_of) takes "
        f"{read * 1000:.0f} ms, plan_reminders {pure * 1000:.0f} ms"
    )
    missed = []
    for label, big, little in (
        (f"claim {batch} per claim", large.batched, small.batched),
        ("claim 1 per claim", large.single, small.single),
    ):
        ratio = median(big) / median(little)
        print(
            f"{label} large/small: {ratio:.2f}x for the same {large.due} due rows "
            f"(target under {CLAIM_TARGET:.0f}x); "
            f"{median(big) / large.due * 1000:.2f} ms per row on the large store"
        )
        if ratio >= CLAIM_TARGET:
            missed.append(f"{backend}: {label} large/small {ratio:.2f}x")
    return missed


def report_due_query(backend: str, store: Store, config: Config) -> list[str]:
    """Print the due query's plan on the large store; a scan is a miss."""
    statement, parameters = capture_due_query(store.engine, config)
    lines, problems = explain(store.engine, statement, parameters)
    word = "EXPLAIN" if backend == "postgresql" else "EXPLAIN QUERY PLAN"
    print(f"\ndue query of claim_due on the large store ({word}):")
    for line in lines:
        print(f"  {line}")
    if problems:
        print(f"the due query scans the outbox: {'; '.join(problems)}")
        return [f"{backend}: due query scans the outbox ({'; '.join(problems)})"]
    print("the due query searches an index; nothing scans the outbox")
    return []


def run_backend(
    backend: str, urls: Sequence[str], args: argparse.Namespace, config: Config
) -> list[str]:
    """Fill both stores at ``urls`` (small, large), measure, print; the misses."""
    large_size = (
        max(int(LARGE[0] * args.scale), SMALL[0]),
        max(int(LARGE[1] * args.scale), SMALL[1]),
    )
    stores = []
    try:
        for label, url, size in (
            ("small", urls[0], SMALL),
            ("large", urls[1], large_size),
        ):
            print(f"{backend}: filling the {label} store ...", flush=True)
            stores.append(fill(label, open_engine(url), size, config))
        missed = report_due_query(backend, stores[1], config)
        measure_stores(stores, config, args.repeats, args.batch)
        return missed + report(backend, stores, args.batch)
    finally:
        for store in stores:
            store.engine.dispose()


def postgres_server(option: str | None) -> str | None:
    """The server URL from the option or the environment, with the psycopg driver."""
    url = option or os.environ.get(POSTGRES_VARIABLE, "").strip()
    if not url:
        return None
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def postgres_database(
    server: str, prefix: str, *, template: str | None = None
) -> Iterator[str]:
    """A new database on ``server`` (a copy of ``template`` if given); its URL.

    It is dropped on the way out, whoever is still connected.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        try:
            yield (
                make_url(server)
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as connection:
                connection.execute(
                    text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                )
    finally:
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", metavar="URL", help=f"server (default ${POSTGRES_VARIABLE})"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="shrink the large store, e.g. 0.1"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure")
    parser.add_argument("--batch", type=int, default=50, help="rows per claim")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database")
    args = parser.parse_args()
    quiet_tracker_logs()
    config = scale_config()

    print(
        f"outbox at scale as of {NOW:%Y-%m-%d %H:%M}Z: small store {SMALL[0]:,} entries "
        f"and {SMALL[1]:,} rows, large {int(LARGE[0] * args.scale):,} and "
        f"{int(LARGE[1] * args.scale):,}; median of {args.repeats} runs"
    )
    print_machine()
    missed = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory(prefix="bench-outbox-") as temp:
            urls = [f"sqlite:///{Path(temp) / name}.db" for name in ("small", "large")]
            missed += run_backend("sqlite", urls, args, config)
    server = postgres_server(args.postgres)
    if args.only in (None, "postgresql") and server is None:
        print(
            f"\npostgresql skipped: pass --postgres URL or set {POSTGRES_VARIABLE} to a "
            'server where the user may create databases, e.g. eval "$(.ci/postgres start)"'
        )
    elif args.only in (None, "postgresql") and server is not None:
        with ExitStack() as stack:
            urls = [
                stack.enter_context(postgres_database(server, f"bench_outbox_{name}"))
                for name in ("small", "large")
            ]
            missed += run_backend("postgresql", urls, args, config)
    if missed:
        raise SystemExit("missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
