"""The outbox: planning notifications into rows, claiming and settling them.

Every notification is a row with a unique key, written in the transaction
that decided it should exist (a sync's alerts with its events). Sending is
claim (pending -> sending, with a lease), send, then sent or back to
pending or failed, each step its own transaction: a process killed after
the claim leaves a row that is claimed again once its lease ran out.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, or_, select

from tracker.config import Channel, Config, parse_duration
from tracker.errors import DeliveryError
from tracker.parsing.model import Precision, Status
from tracker.planning import (
    EntryState,
    PlannedReminder,
    digest_key,
    digest_period_start,
    follows,
    plan_reminders,
    quiet_until,
)
from tracker.store.models import Entry, Event, Notification, Revision, Source

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
# At most this many due rows are looked at in one claim, beyond those
# claimed: rows skipped or held on the way must not end a round that still
# has rows to send, nor make one claim endless.
SCAN_AHEAD = 200
# A message sent this long after its time is marked late.
LATE_AFTER = timedelta(minutes=5)
MAX_RETRY_DELAY = timedelta(hours=1)
# Kinds whose moment passes: sent late within the grace, skipped after it.
TIMELY_KINDS = frozenset({"reminder", "digest"})
# Events that give an entry its current date and status.
DATING_KINDS = ("added", "rescheduled", "moved")


def worker_name() -> str:
    """Who claims rows: host and process, for the outbox listing."""
    return f"{socket.gethostname()}:{os.getpid()}"


def release_dead_claims(session: Session, now: datetime) -> int:
    """End at once the leases of claims held by processes of this host that
    are gone, so that their rows need not wait out the lease; return how many.

    A process restarted with its old process id (as in a container) also
    finds its earlier claims released.
    """
    host = socket.gethostname()
    rows = session.exec(
        select(Notification).where(
            col(Notification.status) == "sending",
            col(Notification.claimed_by).startswith(f"{host}:"),
        )
    ).all()
    released = 0
    for row in rows:
        pid = (row.claimed_by or "").rpartition(":")[2]
        if pid.isdigit() and not process_alive(int(pid)):
            row.claimed_until = min(row.claimed_until or now, now)
            released += 1
    if released:
        log.warning("released claims of ended processes count=%d", released)
    return released


def process_alive(pid: int) -> bool:
    """Whether another process with id ``pid`` runs on this host."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class PlanResult:
    """What planning changed in the outbox."""

    added: int
    cancelled: int


def entries_as_of(
    session: Session, at: datetime, *, entry_id: int | None = None
) -> list[EntryState]:
    """Every entry as the event log says the page had it at ``at``.

    The latest event of an entry up to ``at`` holds its date and status then;
    an entry whose latest event is a removal is gone. Events are taken in
    page-history order (commit time), not in the order they were stored: a
    backfill stores old events after newer ones.
    """
    visible = [col(Event.superseded).is_(False), col(Event.revision_at) <= at]
    if entry_id is not None:
        visible.append(col(Event.entry_id) == entry_id)
    # The database picks each entry's latest event and its latest dating
    # one: only one row per entry comes back, not the whole log.
    ranked = (
        sql_select(
            col(Event.id).label("event_id"),
            func.row_number()
            .over(
                partition_by=col(Event.entry_id),
                order_by=(col(Event.revision_at).desc(), col(Event.id).desc()),
            )
            .label("rank"),
        )
        .where(*visible)
        .subquery()
    )
    dated = (
        sql_select(
            col(Event.entry_id).label("entry_id"),
            func.max(Event.revision_at).label("known_since"),
        )
        .where(*visible, col(Event.kind).in_(DATING_KINDS))
        .group_by(col(Event.entry_id))
        .subquery()
    )
    query = (
        sql_select(
            col(Event.entry_id),
            col(Event.kind),
            col(Event.new_status),
            col(Event.new_date),
            col(Event.new_due_at),
            col(Event.new_precision),
            col(Event.revision_at),
            col(Entry.title),
            col(Entry.details),
            col(Source.name),
            dated.c.known_since,
        )
        .join(ranked, (ranked.c.event_id == Event.id) & (ranked.c.rank == 1))
        .join(Entry, col(Entry.id) == Event.entry_id)
        .join(Source, col(Source.id) == Event.source_id)
        .outerjoin(dated, dated.c.entry_id == Event.entry_id)
        .order_by(col(Event.entry_id))
    )
    states: list[EntryState] = []
    for row in session.connection().execute(query).all():
        if row.kind == "removed" or row.new_status is None:
            continue
        states.append(
            EntryState(
                entry_id=row.entry_id,
                source=row.name,
                title=row.title,
                details=row.details,
                status=Status(row.new_status),
                date=row.new_date,
                due_at=row.new_due_at,
                precision=Precision(row.new_precision or "unknown"),
                known_since=row.known_since or row.revision_at,
            )
        )
    return states


def state_of(session: Session, entry_id: int, at: datetime) -> EntryState | None:
    """One entry as the event log says the page had it at ``at``."""
    for state in entries_as_of(session, at, entry_id=entry_id):
        return state
    return None


def log_marker(session: Session) -> tuple[int, int]:
    """What changes whenever the event log does: its newest event and how
    many events a backfill superseded. Reminders need planning again only
    when it changes (or the config does)."""
    newest = session.exec(select(func.max(Event.id))).one()
    superseded = session.exec(
        select(func.count()).where(col(Event.superseded).is_(True))
    ).one()
    return int(newest or 0), int(superseded)


def plan(
    session: Session, config: Config, now: datetime, *, reminders: bool = True
) -> PlanResult:
    """Bring reminders and digests in the outbox in line with the page.

    Reminders no longer wanted (the change was rescheduled, completed or
    removed) are cancelled; wanted ones are added, or revived if they were
    cancelled before and their time has not passed. Without ``reminders``,
    only digests are planned: for a caller that knows the event log has not
    changed since it last planned.
    """
    if not reminders:
        added = plan_digests(session, config, now)
        session.flush()
        return PlanResult(added=added, cancelled=0)
    wanted = plan_reminders(entries_as_of(session, now), config.channels, config.notify)
    added = cancelled = 0
    by_key = {reminder.key: reminder for reminder in wanted}
    pending = session.exec(
        select(Notification).where(
            Notification.kind == "reminder", Notification.status == "pending"
        )
    ).all()
    for row in pending:
        if row.key not in by_key:
            settle(
                row,
                "cancelled",
                now,
                error="no longer planned: the change moved, completed or left the page",
            )
            cancelled += 1
    oldest = now - parse_duration(config.notify.late_grace)
    for reminder in wanted:
        if reminder.due_at >= oldest:
            added += add_reminder(session, reminder, now)
    added += plan_digests(session, config, now)
    session.flush()
    if added or cancelled:
        log.info("outbox planned added=%d cancelled=%d", added, cancelled)
    return PlanResult(added=added, cancelled=cancelled)


def add_reminder(session: Session, reminder: PlannedReminder, now: datetime) -> int:
    """Insert a planned reminder, or revive a cancelled one; 1 if it did."""
    row = session.exec(
        select(Notification).where(Notification.key == reminder.key)
    ).first()
    if row is None:
        return insert_once(
            session,
            Notification(
                key=reminder.key,
                channel=reminder.channel,
                kind="reminder",
                entry_id=reminder.entry_id,
                lead=reminder.lead,
                target_at=reminder.target_at,
                due_at=reminder.due_at,
                next_attempt_at=reminder.due_at,
                created_at=now,
                updated_at=now,
            ),
        )
    if row.status == "cancelled":
        row.status, row.last_error, row.updated_at = "pending", None, now
        row.next_attempt_at = max(row.due_at, now)
        return 1
    return 0


def plan_digests(session: Session, config: Config, now: datetime) -> int:
    """Add the current period's digest of each channel that has one."""
    grace = parse_duration(config.notify.late_grace)
    added = 0
    for channel in config.channels:
        start = digest_period_start(channel, now)
        if start is None or start < now - grace:
            continue
        added += insert_once(
            session,
            Notification(
                key=digest_key(channel.name, start),
                channel=channel.name,
                kind="digest",
                due_at=start,
                next_attempt_at=start,
                created_at=now,
                updated_at=now,
            ),
        )
    return added


def queue_digest(session: Session, channel: Channel, now: datetime) -> Notification:
    """The digest row for ``now``: this period's, or an unscheduled one."""
    start = digest_period_start(channel, now)
    key = (
        digest_key(channel.name, start)
        if start
        else f"digest:{channel.name}:now:{now:%Y-%m-%dT%H:%M:%SZ}"
    )
    insert_once(session, immediate(key, channel.name, "digest", now, source_id=None))
    return session.exec(select(Notification).where(Notification.key == key)).one()


def source_incident(source: Source) -> str:
    """Names one stretch of failures: the last good sync before it."""
    return (
        f"{source.last_synced_at:%Y-%m-%dT%H:%M:%SZ}"
        if source.last_synced_at
        else "never"
    )


def queue_source_notice(
    session: Session, config: Config, source: Source, state: str, now: datetime
) -> int:
    """Tell the channels that follow ``source`` it is failing or recovered.

    One notice per state and stretch of failures, however many syncs fail.
    """
    queued = 0
    for channel in config.channels:
        if channel.sources is not None and source.name not in channel.sources:
            continue
        key = f"source:{channel.name}:{source.name}:{state}:{source_incident(source)}"
        row = immediate(key, channel.name, "source", now, source_id=source.id)
        # The notice tells of the failures as they stand now, not as they
        # will when it is sent.
        row.facts = {
            "error": source.last_error,
            "failures": source.consecutive_failures,
            "since": source.last_synced_at.isoformat()
            if source.last_synced_at
            else None,
        }
        queued += insert_once(session, row)
    return queued


def note_failure(
    session: Session, config: Config, source: Source, now: datetime
) -> None:
    """After a failed sync: a notice once failures in a row reach the limit."""
    if source.consecutive_failures >= config.notify.source_failing_after:
        queue_source_notice(session, config, source, "failing", now)


def note_success(
    session: Session, config: Config, source: Source, now: datetime
) -> None:
    """Before a good sync is recorded: a notice if the channels heard it failed."""
    pattern = f"source:%:{source.name}:failing:{source_incident(source)}"
    told = session.exec(
        select(Notification.id).where(col(Notification.key).like(pattern))
    ).first()
    if told is not None:
        queue_source_notice(session, config, source, "recovered", now)


def note_stale_sources(session: Session, config: Config, now: datetime) -> None:
    """Warn about sources with no good sync for longer than allowed."""
    limit = now - parse_duration(config.notify.source_stale_after)
    names = [settings.name for settings in config.sources]
    for source in session.exec(select(Source).where(col(Source.name).in_(names))).all():
        if (source.last_synced_at or source.created_at) < limit:
            queue_source_notice(session, config, source, "failing", now)


def enqueue_alerts(
    session: Session,
    config: Config,
    source: Source,
    revision: Revision,
    events: Sequence[Event],
    now: datetime,
) -> int:
    """Queue the alerts a sync's events call for; return how many.

    A first sync is a baseline: instead of one alert per entry, each channel
    gets one summary line.
    """
    queued = 0
    for channel in config.channels:
        if channel.sources is not None and source.name not in channel.sources:
            continue
        if any(event.baseline for event in events):
            key = f"summary:{channel.name}:{source.name}:{revision.commit}"
            queued += queue(
                session,
                immediate(key, channel.name, "summary", now, source_id=source.id),
            )
            continue
        for event in events:
            entry = session.get(Entry, event.entry_id)
            if event.kind not in channel.events or entry is None:
                continue
            if not follows(channel, source.name, entry.title, entry.details):
                continue
            key = f"alert:{channel.name}:{event.id}"
            row = immediate(key, channel.name, "alert", now, source_id=source.id)
            row.entry_id, row.event_id = entry.id, event.id
            queued += queue(session, row)
    return queued


def immediate(
    key: str, channel: str, kind: str, now: datetime, *, source_id: int | None
) -> Notification:
    """A row to send as soon as possible."""
    return Notification(
        key=key,
        channel=channel,
        kind=kind,
        source_id=source_id,
        due_at=now,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def queue(session: Session, row: Notification) -> int:
    """Add ``row`` unless its key is already there; 1 if added."""
    return insert_once(session, row)


def insert_once(session: Session, row: Notification) -> int:
    """Insert ``row`` unless a row with its key exists; 1 if inserted.

    Two processes may plan the same message at once: the database's unique
    key decides, and the loser's insert does nothing instead of failing.
    """
    values = row.model_dump(exclude={"id"})
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = (
            postgresql_insert(Notification)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["key"])
        )
    else:
        statement = (
            sqlite_insert(Notification)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["key"])
        )
    # rowcount is -1 on PostgreSQL for an insert that returns ids: count them.
    inserted = session.connection().execute(statement.returning(col(Notification.id)))
    return len(inserted.all())


def claim_due(
    session: Session,
    config: Config,
    now: datetime,
    *,
    worker: str,
    limit: int = 100,
    log_skips: bool = True,
) -> list[Notification]:
    """Claim the rows due at ``now`` for ``worker``; their lease starts now.

    Rows whose moment passed beyond the late grace are skipped, rows inside
    their channel's quiet hours are put off to the end of them. On
    PostgreSQL, rows another replica holds are passed over (SKIP LOCKED).
    """
    grace = parse_duration(config.notify.late_grace)
    channels = {channel.name: channel for channel in config.channels}
    due = (
        select(Notification)
        .where(
            or_(
                (col(Notification.status) == "pending")
                & (col(Notification.next_attempt_at) <= now),
                (col(Notification.status) == "sending")
                & (col(Notification.claimed_until) <= now),
            )
        )
        .order_by(col(Notification.next_attempt_at), col(Notification.id))
        .with_for_update(skip_locked=True)
    )
    claimed: list[Notification] = []
    budget = limit + SCAN_AHEAD
    # Read only as many rows as are still wanted: on PostgreSQL each read row
    # stays locked until commit, and a replica must not hold rows it will
    # not send. Every row read leaves the due set (claimed, settled, put off
    # or taken by another process), so the next read finds new ones.
    while len(claimed) < limit and budget > 0:
        batch = session.exec(due.limit(min(limit - len(claimed), budget))).all()
        if not batch:
            break
        budget -= len(batch)
        for row in batch:
            sendable = triage(
                row, channels.get(row.channel), config, now, grace, log_skips
            )
            if sendable and take(session, row, worker, now):
                claimed.append(row)
        session.flush()
    return claimed


def triage(
    row: Notification,
    channel: Channel | None,
    config: Config,
    now: datetime,
    grace: timedelta,
    log_skips: bool,
) -> bool:
    """Whether a due row may be sent now; if not, settle it or put it off."""
    if channel is None:
        settle(
            row,
            "skipped",
            now,
            error=f"channel {row.channel!r} is no longer configured",
        )
        return False
    if row.status == "sending" and row.attempts >= config.notify.max_attempts:
        # The last try was claimed and never settled: its process died.
        settle(
            row,
            "failed",
            now,
            error=f"gave up after {row.attempts} tries; the last did not finish",
        )
        return False
    if row.kind == "reminder" and row.target_at is not None and row.target_at <= now:
        # A countdown to a moment already past would be false ("in 0
        # minutes"); the change's own alerts and digests tell the rest.
        settle(
            row,
            "skipped",
            now,
            error=f"missed: the change was due {row.target_at:%Y-%m-%d %H:%M}Z, before it could be sent",
        )
        if log_skips:
            log.warning(
                "notification skipped key=%s reason=past target_at=%s",
                row.key,
                row.target_at.isoformat(),
            )
        return False
    # The grace runs from when the row was last meant to go out, or from
    # the end of the quiet hours that held it then: a message held or
    # waiting for a retry is not late for that.
    meant = row.next_attempt_at
    meant = quiet_until(channel, meant) or meant
    if row.kind in TIMELY_KINDS and meant < now - grace:
        settle(
            row,
            "skipped",
            now,
            error=f"missed: due {row.due_at:%Y-%m-%d %H:%M}Z, more than {config.notify.late_grace} ago",
        )
        if log_skips:
            log.warning(
                "notification skipped key=%s reason=missed due_at=%s",
                row.key,
                row.due_at.isoformat(),
            )
        return False
    quiet_end = quiet_until(channel, now)
    if quiet_end is not None:
        row.status, row.next_attempt_at, row.updated_at = "pending", quiet_end, now
        return False
    return True


def take(session: Session, row: Notification, worker: str, now: datetime) -> bool:
    """Claim one row unless another process claimed it since we read it.

    The update only matches the row as it was read (same status, same
    number of attempts), so of two processes reading it at once only one
    takes it: SQLite has no SKIP LOCKED, and this needs none.
    """
    result = session.connection().execute(
        update(Notification)
        .where(
            col(Notification.id) == row.id,
            col(Notification.status) == row.status,
            col(Notification.attempts) == row.attempts,
        )
        .values(
            status="sending",
            claimed_by=worker,
            # The lease runs on the real clock even when acting as of --at.
            claimed_until=max(now, datetime.now(UTC)) + LEASE,
            attempts=row.attempts + 1,
            # A try that never settled, or one that failed without knowing
            # whether the server took the message.
            interrupted=row.interrupted or row.status == "sending",
            updated_at=now,
        )
    )
    if result.rowcount != 1:
        session.expunge(row)
        return False
    session.refresh(row)
    return True


def settle(
    row: Notification, status: str, now: datetime, *, error: str | None = None
) -> None:
    """Put a row in a final or waiting state."""
    row.status, row.last_error, row.updated_at = status, error, now
    row.claimed_by = row.claimed_until = None


def mark_sent(row: Notification, now: datetime, response: str) -> None:
    """Record a delivery."""
    settle(row, "sent", now)
    row.sent_at, row.response = now, response
    row.late = now - row.due_at > LATE_AFTER


def mark_failed(
    row: Notification, config: Config, now: datetime, error: DeliveryError
) -> None:
    """Record a failed attempt: retry later, or give up for good."""
    row.delivered_posts = max(row.delivered_posts, error.delivered)
    row.interrupted = row.interrupted or error.uncertain
    if error.permanent or row.attempts >= config.notify.max_attempts:
        settle(row, "failed", now, error=str(error))
        return
    base = parse_duration(config.notify.retry_delay)
    delay = min(base * 2 ** (row.attempts - 1), MAX_RETRY_DELAY)
    if error.retry_after is not None:
        delay = max(delay, timedelta(seconds=error.retry_after))
    settle(row, "pending", now, error=str(error))
    row.next_attempt_at = now + delay


def next_due(session: Session) -> datetime | None:
    """When the next pending row is due, for a scheduler to wake up."""
    query = (
        select(Notification)
        .where(Notification.status == "pending")
        .order_by(col(Notification.next_attempt_at))
        .limit(1)
    )
    row = session.exec(query).first()
    return row.next_attempt_at if row is not None else None
