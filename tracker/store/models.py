"""The database tables: sources, revisions, entries and the event log.

Rows are never deleted to express a change of the page: an entry that left
the page is marked removed, and every change is an event row.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Column, Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite keeps none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        return value.astimezone(UTC)

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    """A column holding an aware UTC datetime."""
    return Column(UTCDateTime(), nullable=nullable, index=index)


def now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


class Source(SQLModel, table=True):
    """A tracked page, by its name in the config, and its sync health."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    kind: str
    location: str
    path: str
    last_commit: str | None = None
    last_synced_at: datetime | None = Field(default=None, sa_column=utc_column())
    last_attempt_at: datetime | None = Field(default=None, sa_column=utc_column())
    last_error: str | None = None
    consecutive_failures: int = 0
    created_at: datetime = Field(
        default_factory=now, sa_column=utc_column(nullable=False)
    )
    # What the cheap change check (a feed polled before fetching) last saw:
    # the server's validators, the newest item, and the last full fetch.
    poll_etag: str | None = None
    poll_modified: str | None = None
    poll_marker: str | None = None
    fetched_at: datetime | None = Field(default=None, sa_column=utc_column())
    # When the daemon will sync this source next, for 'tracker status'.
    next_sync_at: datetime | None = Field(default=None, sa_column=utc_column())


class Revision(SQLModel, table=True):
    """One version of a page that the tracker read."""

    __table_args__ = (UniqueConstraint("source_id", "commit"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    commit: str
    committed_at: datetime = Field(sa_column=utc_column(nullable=False))
    path: str
    entry_count: int
    fetched_at: datetime = Field(
        default_factory=now, sa_column=utc_column(nullable=False)
    )


class Entry(SQLModel, table=True):
    """A change listed on a page, in its latest known form."""

    __table_args__ = (Index("ix_entry_source_key", "source_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    key: str
    status: str = Field(index=True)
    title: str
    date: dt.date | None = None
    date_text: str
    due_at: datetime | None = Field(default=None, sa_column=utc_column(index=True))
    precision: str
    end_date: dt.date | None = None
    details: str = ""
    details_markdown: str = ""
    links: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    section: str = ""
    line: int | None = None
    row_key: str | None = None
    warnings: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    removed: bool = Field(default=False, index=True)
    removed_at: datetime | None = Field(default=None, sa_column=utc_column())
    first_revision_id: int = Field(foreign_key="revision.id")
    last_revision_id: int = Field(foreign_key="revision.id")
    updated_at: datetime = Field(
        default_factory=now, sa_column=utc_column(nullable=False)
    )


class Event(SQLModel, table=True):
    """Something that happened to an entry, found in a revision.

    ``baseline`` marks the "added" events of a source's first revision: the
    entries were already there when tracking began. ``superseded`` marks a
    baseline event that a later backfill explained with real history.
    """

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    revision_id: int = Field(foreign_key="revision.id", index=True)
    kind: str = Field(index=True)
    title: str
    old_date: dt.date | None = None
    new_date: dt.date | None = None
    old_due_at: datetime | None = Field(default=None, sa_column=utc_column())
    new_due_at: datetime | None = Field(default=None, sa_column=utc_column())
    old_precision: str | None = None
    new_precision: str | None = None
    old_status: str | None = None
    new_status: str | None = None
    revision_at: datetime = Field(sa_column=utc_column(nullable=False, index=True))
    detected_at: datetime = Field(
        default_factory=now, sa_column=utc_column(nullable=False)
    )
    baseline: bool = False
    superseded: bool = False


class Notification(SQLModel, table=True):
    """One message to one channel, in the outbox until it is delivered.

    ``key`` is unique: a reminder is ``reminder:<channel>:<entry>:<instant
    it is for>:<lead>``, an alert ``alert:<channel>:<event>``, a digest
    ``digest:<channel>:<period start>``; planning the same message twice
    finds the row already there. ``status`` is pending, sending (claimed
    until ``claimed_until``), sent, failed, skipped or cancelled.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    channel: str = Field(index=True)
    kind: str
    source_id: int | None = Field(default=None, foreign_key="source.id")
    entry_id: int | None = Field(default=None, foreign_key="entry.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="event.id")
    lead: str | None = None
    target_at: datetime | None = Field(default=None, sa_column=utc_column())
    due_at: datetime = Field(sa_column=utc_column(nullable=False))
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=utc_column(nullable=False))
    claimed_by: str | None = None
    claimed_until: datetime | None = Field(default=None, sa_column=utc_column())
    delivered_posts: int = 0
    # A try never settled (its process died) or failed without an answer:
    # the message may already be in the channel.
    interrupted: bool = False
    # What the message tells that the database will not keep as it was when
    # the row was queued: for a source notice, the error and the failures.
    facts: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    late: bool = False
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())
    last_error: str | None = None
    response: str | None = None
    created_at: datetime = Field(
        default_factory=now, sa_column=utc_column(nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=now, sa_column=utc_column(nullable=False)
    )
