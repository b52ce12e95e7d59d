"""Read and write the store's rows in the shapes the stages use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

from sqlmodel import Session, col, select

from tracker.diff import Change, EventKind, Known
from tracker.parsing.model import ParsedEntry, Precision, Status
from tracker.replay import Replay, Step
from tracker.sources.base import PageRevision
from tracker.store.models import Entry, Event, Revision, Source, now


def id_of(row: Source | Revision | Entry) -> int:
    """The id of a row that has been flushed to the database."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} row has no id yet; flush it first")
    return row.id


def get_or_create_source(
    session: Session, name: str, kind: str, location: str, path: str
) -> Source:
    """The source row called ``name``, created on first use."""
    source = session.exec(select(Source).where(Source.name == name)).first()
    if source is None:
        source = Source(name=name, kind=kind, location=location, path=path)
        session.add(source)
        session.flush()
    else:
        source.kind, source.location = kind, location
    return source


def find_source(session: Session, name: str) -> Source | None:
    """The source row called ``name``, if it was ever synced."""
    return session.exec(select(Source).where(Source.name == name)).first()


def entry_from_row(row: Entry) -> ParsedEntry:
    """The parsed form of a stored entry, for comparing with a new revision."""
    return ParsedEntry(
        key=row.key,
        status=Status(row.status),
        title=row.title,
        date_text=row.date_text,
        date=row.date,
        due_at=row.due_at,
        precision=Precision(row.precision),
        end=row.end_date,
        details=row.details,
        details_markdown=row.details_markdown,
        links=tuple(row.links),
        section=row.section,
        line=row.line,
        row_key=row.row_key,
        warnings=tuple(row.warnings),
    )


def load_replay(session: Session, source_id: int) -> Replay:
    """The stored state of a source, ready to replay a new revision over."""
    rows = session.exec(select(Entry).where(Entry.source_id == source_id)).all()
    current = [
        Known(row.id, entry_from_row(row)) for row in rows if row.id and not row.removed
    ]
    removed = [
        Known(row.id, entry_from_row(row)) for row in rows if row.id and row.removed
    ]
    return Replay.over(current, removed)


def get_or_create_revision(
    session: Session, source: Source, page: PageRevision, count: int
) -> Revision:
    """The row of one revision of a source's page."""
    revision = session.exec(
        select(Revision).where(
            Revision.source_id == source.id, Revision.commit == page.commit
        )
    ).first()
    if revision is None:
        revision = Revision(
            source_id=id_of(source),
            commit=page.commit,
            committed_at=page.committed_at,
            path=page.path,
            entry_count=count,
        )
        session.add(revision)
        session.flush()
    return revision


# Resolves a replay handle to its row, or None when a new row is needed.
Resolver = Callable[[int], Entry | None]


def save_step(
    session: Session,
    source: Source,
    revision: Revision,
    step: Step,
    resolve: Resolver,
    rows: dict[int, Entry],
) -> list[Event]:
    """Write one replayed revision: entry rows and the events that are new.

    ``rows`` maps the replay's handles to rows across steps; an event that
    is already stored (same revision, entry and kind) is not written again.
    """
    stored = {
        (event.entry_id, event.kind)
        for event in session.exec(
            select(Event).where(
                Event.revision_id == revision.id, col(Event.superseded).is_(False)
            )
        ).all()
    }
    events: list[Event] = []
    for known, entry in step.comparison.matches:
        row = rows.get(known.ref) or resolve(known.ref)
        if row is not None:
            rows[known.ref] = update_row(row, entry, revision)
    for step_event in step.events:
        row = entry_row(
            session, source, revision, step_event.ref, step_event.change, resolve, rows
        )
        if (row.id, step_event.change.kind.value) in stored:
            continue
        event = event_row(source, row, revision, step_event.change, step.baseline)
        session.add(event)
        events.append(event)
    session.flush()
    return events


def entry_row(
    session: Session,
    source: Source,
    revision: Revision,
    ref: int,
    change: Change,
    resolve: Resolver,
    rows: dict[int, Entry],
) -> Entry:
    """The row an event is about, created or brought up to date."""
    row = rows.get(ref) or resolve(ref)
    if row is None:
        if change.new is None:
            raise ValueError(f"no stored entry for handle {ref}")
        row = Entry(
            source_id=id_of(source),
            key=change.new.key,
            status=change.new.status,
            title=change.new.title,
            date_text=change.new.date_text,
            precision=change.new.precision,
            first_revision_id=id_of(revision),
            last_revision_id=id_of(revision),
        )
        session.add(row)
    if change.kind is EventKind.REMOVED:
        row.removed = True
        row.removed_at = revision.committed_at
    elif change.new is not None:
        update_row(row, change.new, revision)
        row.removed = False
        row.removed_at = None
    session.flush()
    rows[ref] = row
    return row


def update_row(row: Entry, entry: ParsedEntry, revision: Revision) -> Entry:
    """Copy a parsed entry's fields into its row."""
    row.key = entry.key
    row.status = entry.status.value
    row.title = entry.title
    row.date = entry.date
    row.date_text = entry.date_text
    row.due_at = entry.due_at
    row.precision = entry.precision.value
    row.end_date = entry.end
    row.details = entry.details
    row.details_markdown = entry.details_markdown
    row.links = list(entry.links)
    row.section = entry.section
    row.line = entry.line
    row.row_key = entry.row_key
    row.warnings = list(entry.warnings)
    if revision.id is not None:
        row.last_revision_id = revision.id
    row.updated_at = now()
    return row


def event_row(
    source: Source, row: Entry, revision: Revision, change: Change, baseline: bool
) -> Event:
    """The event log row of one change."""
    old, new = change.old, change.new
    latest = new or old
    return Event(
        source_id=id_of(source),
        entry_id=id_of(row),
        revision_id=id_of(revision),
        kind=change.kind.value,
        title=latest.title if latest else row.title,
        old_date=old.date if old else None,
        new_date=new.date if new else None,
        old_due_at=old.due_at if old else None,
        new_due_at=new.due_at if new else None,
        old_precision=old.precision.value if old else None,
        new_precision=new.precision.value if new else None,
        old_status=old.status.value if old else None,
        new_status=new.status.value if new else None,
        revision_at=revision.committed_at,
        baseline=baseline and change.kind is EventKind.ADDED,
    )


def record_failure(source: Source, message: str, at: datetime) -> None:
    """Note a failed sync on the source; its entries stay as they were."""
    source.last_attempt_at = at
    source.last_error = message
    source.consecutive_failures += 1


def record_success(source: Source, page: PageRevision | None, at: datetime) -> None:
    """Note a successful sync and where the page now lives.

    ``page`` is None when a cheap check showed nothing new to fetch.
    """
    source.last_attempt_at = at
    source.last_synced_at = at
    if page is not None:
        source.last_commit = page.commit
        source.path = page.path
    source.last_error = None
    source.consecutive_failures = 0


def list_entries(
    session: Session,
    *,
    sources: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
    include_removed: bool = False,
) -> list[tuple[Entry, str]]:
    """Entries with their source names, soonest first, undated last."""
    query = select(Entry, Source.name).join(Source, col(Entry.source_id) == Source.id)
    if sources:
        query = query.where(col(Source.name).in_(sources))
    if statuses:
        query = query.where(col(Entry.status).in_(statuses))
    if not include_removed:
        query = query.where(col(Entry.removed).is_(False))
    rows = session.exec(query).all()
    return sorted(
        rows,
        key=lambda pair: (
            pair[0].date is None,
            pair[0].date or date.min,
            pair[0].id or 0,
        ),
    )
