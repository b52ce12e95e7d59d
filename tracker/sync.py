"""Run the stages for one source: fetch, parse, compare, store.

``sync_source`` reads the page's newest revision; ``backfill_source``
replays the page's whole git history so that the event log tells when each
change was announced and every time it slipped.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from tracker import outbox
from tracker.config import Config, SourceSettings, parse_duration
from tracker.diff import Comparison, EventKind, Known, match_entries
from tracker.errors import ParseError, SourceError
from tracker.parsing import PageRules, detect_format, parse_page
from tracker.parsing.model import ParsedPage
from tracker.replay import Replay, Step
from tracker.sources.base import PageRevision
from tracker.sources.feed import FeedSource, Poll, Validators, display_url, poll
from tracker.sources.git import GitSource, check_repo_url
from tracker.store import records
from tracker.store.db import exclusive, session_scope
from tracker.store.models import Entry, Event, Revision, Source

log = logging.getLogger(__name__)

# Events that give an entry a date it did not have before.
DATED_KINDS = frozenset({EventKind.ADDED, EventKind.RESCHEDULED})
# Below this many stored entries, losing most (but not all) of them is not
# suspicious.
MASS_REMOVAL_FLOOR = 3


@dataclass
class SyncResult:
    """What one sync (or backfill) of a source did."""

    source: str
    commit: str | None = None
    committed_at: datetime | None = None
    path: str | None = None
    entries: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    revisions: int = 0
    skipped: list[str] = field(default_factory=list)
    baseline: bool = False
    unchanged: bool = False
    warnings: int = 0
    queued: int = 0
    # Another process was syncing the source; this sync did nothing.
    busy: bool = False
    # A poll showed nothing new, so nothing was fetched.
    polled: bool = False


def build_source(config: Config, settings: SourceSettings) -> GitSource | FeedSource:
    """The fetcher of one configured source."""
    if settings.type == "feed":
        assert settings.url is not None
        return FeedSource(settings.name, settings.url)
    return GitSource(
        name=settings.name,
        repo=settings.repo,
        branch=settings.branch,
        path=settings.path,
        cache_dir=config.cache_dir,
    )


def page_rules(
    config: Config, settings: SourceSettings, reference: datetime
) -> PageRules:
    """How to read a source's page as of ``reference``."""
    return PageRules.build(
        config.source_zone(settings),
        reference,
        upcoming=settings.upcoming_headings,
        completed=settings.completed_headings,
        hints=settings.hints.page_hints(),
    )


def read_page(
    config: Config, settings: SourceSettings, page: PageRevision
) -> ParsedPage:
    """Parse one revision; a ParseError names the source, revision and line.

    The page is read as of its commit time, but never as of a time after now:
    commit times are whatever the committer's clock or hand said.
    """
    rules = page_rules(config, settings, min(page.committed_at, datetime.now(UTC)))
    try:
        return parse_page(
            page.text,
            page_format=(
                "feed"
                if settings.type == "feed"
                else detect_format(page.path, settings.format)
            ),
            rules=rules,
        )
    except ParseError as error:
        if settings.type == "feed":
            raise ParseError(
                f"{settings.name}: cannot read the feed {page.path}: {error}; "
                "the stored entries are kept (check the feed's URL and content)"
            ) from None
        where = f"{page.path}:{error.line}" if error.line else page.path
        raise ParseError(
            f"{settings.name}: cannot read {where} at commit {page.commit[:12]}: {error}; "
            "the stored entries are kept (check the page, or the source's format and headings)",
            line=error.line,
        ) from None


def check_removals(
    settings: SourceSettings, page: PageRevision, replay: Replay, comparison: Comparison
) -> None:
    """Refuse a revision that drops most entries at once.

    Such a revision is far more often a page we misread, a truncated file or
    a rewrite in a new format than a vendor withdrawing most changes.
    """
    before = len(replay.current)
    lost = len(comparison.removed)
    emptied = before > 0 and lost == before
    most = (
        before >= MASS_REMOVAL_FLOOR and lost > before * settings.max_removed_fraction
    )
    if emptied or most:
        raise SourceError(
            f"{settings.name}: commit {page.commit[:12]} would remove {lost} of {before} "
            f"entries; nothing was stored. If the page really dropped them, run "
            f"'tracker sync --source {settings.name} --accept-removals'"
        )


def sync_source(
    engine: Engine,
    config: Config,
    settings: SourceSettings,
    *,
    accept_removals: bool = False,
    wait: bool = True,
) -> SyncResult:
    """Fetch the newest revision of a source and store what changed.

    One process at a time syncs a source; without ``wait``, a sync that
    finds another process at it returns at once with ``busy`` set. On any
    error the source's stored entries are kept, the failure is recorded on
    the source, and the error is raised again.
    """
    started = time.monotonic()
    result = SyncResult(source=settings.name)
    with exclusive(engine, f"sync:{settings.name}", wait=wait) as mine:
        if not mine:
            result.busy = True
            log.info("sync skipped source=%s reason=busy elsewhere", settings.name)
            return result
        with session_scope(engine) as session:
            state = FetchState.of(ensure_source(session, settings))
        try:
            page, answer = fetch_latest(config, settings, state)
            with session_scope(engine) as session:
                source = ensure_source(session, settings)
                now = datetime.now(UTC)
                if page is None:
                    result.unchanged = result.polled = True
                    result.commit = source.last_commit
                    result.entries = count_current(session, source)
                    outbox.note_success(session, config, source, now)
                    records.record_success(source, None, now)
                else:
                    store_revision(
                        session, config, settings, source, page, result, accept_removals
                    )
                    source.fetched_at = now
                remember_poll(source, answer)
        except (SourceError, ParseError) as error:
            with session_scope(engine) as session:
                source = ensure_source(session, settings)
                now = datetime.now(UTC)
                records.record_failure(source, str(error), now)
                outbox.note_failure(session, config, source, now)
            raise
    log.info(
        "sync finished source=%s commit=%s unchanged=%s polled=%s %s duration=%.2fs",
        settings.name,
        (result.commit or "")[:12],
        result.unchanged,
        result.polled,
        " ".join(f"{kind}={n}" for kind, n in sorted(result.counts.items()))
        or "events=0",
        time.monotonic() - started,
    )
    return result


@dataclass(frozen=True)
class FetchState:
    """What the previous syncs of a source left for the next fetch."""

    path: str
    commit: str | None
    validators: Validators
    marker: str | None
    fetched_at: datetime | None

    @classmethod
    def of(cls, source: Source) -> FetchState:
        return cls(
            source.path,
            source.last_commit,
            Validators(source.poll_etag, source.poll_modified),
            source.poll_marker,
            source.fetched_at,
        )


def fetch_latest(
    config: Config, settings: SourceSettings, state: FetchState
) -> tuple[PageRevision | None, Poll | None]:
    """Fetch the newest revision, or None when a poll shows nothing new.

    A git source with a commits feed polls it first and fetches only when
    the feed shows a new commit, or when its last fetch is older than
    ``full_fetch_every`` (in case the feed misses one). Errors name the
    source; a failed poll only costs the fetch it would have saved.
    """
    source = build_source(config, settings)
    try:
        if isinstance(source, FeedSource):
            known = state.validators if state.commit is not None else Validators()
            return source.fetch(known)
        answer = poll_commits(settings, state)
        if answer is not None and nothing_new(settings, state, answer):
            log.debug("sync skips the fetch source=%s", settings.name)
            return None, answer
        page = source.fetch_latest(known_path=state.path, known_commit=state.commit)
        return page, answer
    except SourceError as error:
        raise SourceError(f"{settings.name}: {error}") from None


def poll_commits(settings: SourceSettings, state: FetchState) -> Poll | None:
    """Poll the source's commits feed, if it has one; None if that failed."""
    feed = settings.feed_to_poll()
    if feed is None:
        return None
    try:
        answer = poll(feed, state.validators)
        answer.newest_item()  # a body that is no feed is a failed poll
    except SourceError as error:
        log.warning(
            "commits feed poll failed source=%s error=%s; fetching instead",
            settings.name,
            error,
        )
        return None
    return answer


def nothing_new(settings: SourceSettings, state: FetchState, answer: Poll) -> bool:
    """Whether a commits feed answer shows no commit since the last fetch."""
    if state.commit is None or state.fetched_at is None:
        return False
    if datetime.now(UTC) - state.fetched_at >= parse_duration(
        settings.full_fetch_every
    ):
        return False
    if answer.not_modified:
        return True
    newest = answer.newest_item()
    return newest is not None and newest == state.marker


def remember_poll(source: Source, answer: Poll | None) -> None:
    """Keep a poll's validators and newest item for the next sync."""
    if answer is None or answer.not_modified:
        return
    source.poll_etag = answer.validators.etag
    source.poll_modified = answer.validators.modified
    source.poll_marker = answer.newest_item()


def ensure_source(session: Session, settings: SourceSettings) -> Source:
    """The source's row, created on its first sync."""
    if settings.type == "feed":
        location = display_url(settings.url or "")
    else:
        location = check_repo_url(settings.repo)
    return records.get_or_create_source(
        session, settings.name, settings.type, location, settings.path
    )


def store_revision(
    session: Session,
    config: Config,
    settings: SourceSettings,
    source: Source,
    page: PageRevision,
    result: SyncResult,
    accept_removals: bool,
) -> None:
    """Compare a fetched revision with the stored state and save the outcome."""
    result.commit, result.committed_at, result.path = (
        page.commit,
        page.committed_at,
        page.path,
    )
    if page.commit == source.last_commit:
        result.unchanged = True
        result.entries = count_current(session, source)
        now = datetime.now(UTC)
        outbox.note_success(session, config, source, now)
        records.record_success(source, page, now)
        return

    parsed = read_page(config, settings, page)
    replay = records.load_replay(session, source.id or 0)
    comparison = replay.preview(parsed.entries)
    if settings.type == "feed" and comparison.removed:
        # A feed shows its newest items only: an item that left it aged
        # out, it was not withdrawn. It stays as it was.
        kept = (*parsed.entries, *(known.entry for known in comparison.removed))
        parsed = replace(parsed, entries=kept)
        comparison = replay.preview(parsed.entries)
    if not accept_removals:
        check_removals(settings, page, replay, comparison)
    step = replay.apply(comparison)
    warn_about_dates(settings, page, step)
    revision = records.get_or_create_revision(
        session, source, page, len(parsed.entries)
    )
    rows: dict[int, Entry] = {}
    events = records.save_step(
        session, source, revision, step, lambda ref: resolve_stored(session, ref), rows
    )
    now = datetime.now(UTC)
    # In the same transaction as the events: an alert exists iff its event does.
    result.queued = outbox.enqueue_alerts(
        session, config, source, revision, events, now
    )
    outbox.note_success(session, config, source, now)
    records.record_success(source, page, now)
    result.entries = len(parsed.entries)
    result.revisions = 1
    result.baseline = step.baseline
    result.warnings = len(parsed.warnings) + sum(
        len(e.warnings) for e in parsed.entries
    )
    result.counts.update(event.kind for event in events)


def warn_about_dates(settings: SourceSettings, page: PageRevision, step: Step) -> None:
    """Log the date warnings of entries whose date this revision set."""
    for event in step.events:
        entry = event.change.new
        if event.change.kind in DATED_KINDS and entry is not None:
            for warning in entry.warnings:
                log.warning(
                    "date warning source=%s commit=%s line=%s title=%r warning=%s",
                    settings.name,
                    page.commit[:12],
                    entry.line,
                    entry.title,
                    warning,
                )


def resolve_stored(session: Session, ref: int) -> Entry | None:
    """A stored entry by id; new entries (negative handles) have none yet."""
    return session.get(Entry, ref) if ref > 0 else None


def count_current(session: Session, source: Source) -> int:
    """How many entries the source's page lists now."""
    query = select(Entry.id).where(
        Entry.source_id == source.id, col(Entry.removed).is_(False)
    )
    return len(session.exec(query).all())


def backfill_source(
    engine: Engine, config: Config, settings: SourceSettings
) -> SyncResult:
    """Replay every revision of the page, oldest first, into the store.

    Revisions and events already stored are kept as they are (running it
    twice changes nothing). Entries keep their ids: replayed entries are
    matched to stored ones by key. "Added" events of a first sync that the
    history now explains are marked superseded. A revision that cannot be
    read, or that would drop most entries, is skipped with a warning and the
    next one is compared with the last good one.
    """
    if settings.type == "feed":
        raise SourceError(
            f"{settings.name}: a feed keeps no history to replay; "
            "'tracker sync' reads what it shows now"
        )
    result = SyncResult(source=settings.name)
    with session_scope(engine) as session:
        source = ensure_source(session, settings)
        known_path = source.path
    try:
        history = build_source(config, settings).history(known_path=known_path)
    except SourceError as error:
        named = SourceError(f"{settings.name}: {error}")
        with session_scope(engine) as session:
            records.record_failure(
                ensure_source(session, settings), str(named), datetime.now(UTC)
            )
        raise named from None

    with session_scope(engine) as session:
        source = ensure_source(session, settings)
        check_history_covers_store(session, source, history)
        # Revisions stored already were accepted, removals and all.
        accepted = set(
            session.exec(select(Revision.commit).where(Revision.source_id == source.id))
        )
    replay = Replay()
    steps: list[tuple[PageRevision, Step, int]] = []
    for page in history:
        step = replay_revision(
            config, settings, replay, page, result, guard=page.commit not in accepted
        )
        if step is not None:
            steps.append(step)
    with session_scope(engine) as session:
        source = ensure_source(session, settings)
        save_history(session, source, replay, steps, result)
        # The state stored is that of the last revision applied: a skipped
        # newer one must still count as new to the next sync.
        if steps:
            last = steps[-1][0]
            records.record_success(source, last, datetime.now(UTC))
            result.commit, result.committed_at, result.path = (
                last.commit,
                last.committed_at,
                last.path,
            )
    result.entries = len(replay.current)
    log.info(
        "backfill finished source=%s revisions=%d skipped=%d %s",
        settings.name,
        result.revisions,
        len(result.skipped),
        " ".join(f"{kind}={n}" for kind, n in sorted(result.counts.items()))
        or "events=0",
    )
    return result


def check_history_covers_store(
    session: Session, source: Source, history: list[PageRevision]
) -> None:
    """Refuse a backfill whose history starts after revisions already stored.

    That happens when the page was deleted and later added again: git links
    the new page to nothing before it, and replaying from there would
    contradict the events already stored.
    """
    if not history:
        return
    commits = {page.commit for page in history}
    query = (
        select(Revision)
        .where(Revision.source_id == source.id)
        .order_by(col(Revision.committed_at))
    )
    for revision in session.exec(query).all():
        if (
            revision.commit not in commits
            and revision.committed_at <= history[0].committed_at
        ):
            raise SourceError(
                f"{source.name}: the page's git history starts at commit "
                f"{history[0].commit[:12]} ({history[0].committed_at:%Y-%m-%d}), but revision "
                f"{revision.commit[:12]} ({revision.committed_at:%Y-%m-%d}) from before it is "
                "already stored; the page was probably deleted and added again. Nothing "
                "was changed; the stored history stays as synced"
            )


def replay_revision(
    config: Config,
    settings: SourceSettings,
    replay: Replay,
    page: PageRevision,
    result: SyncResult,
    *,
    guard: bool = True,
) -> tuple[PageRevision, Step, int] | None:
    """Apply one historical revision, or skip it with a warning.

    Without ``guard``, a revision that drops most entries is applied: a sync
    stored it with --accept-removals.
    """
    try:
        parsed = read_page(config, settings, page)
        comparison = replay.preview(parsed.entries)
        if guard:
            check_removals(settings, page, replay, comparison)
    except (ParseError, SourceError) as error:
        log.warning(
            "revision skipped source=%s commit=%s reason=%s",
            settings.name,
            page.commit[:12],
            error,
        )
        result.skipped.append(str(error))
        return None
    step = replay.apply(comparison)
    warn_about_dates(settings, page, step)
    return page, step, len(parsed.entries)


def save_history(
    session: Session,
    source: Source,
    replay: Replay,
    steps: list[tuple[PageRevision, Step, int]],
    result: SyncResult,
) -> None:
    """Write replayed revisions, matching replayed entries to stored rows."""
    claimed = claim_stored_rows(session, source, replay)
    if steps:
        later = [page.commit for page, _, _ in steps[1:]]
        supersede_baselines(session, source, later)

    rows: dict[int, Entry] = {}
    for page, step, count in steps:
        revision = records.get_or_create_revision(session, source, page, count)
        events = records.save_step(session, source, revision, step, claimed.get, rows)
        result.counts.update(event.kind for event in events)
        result.revisions += 1


def claim_stored_rows(
    session: Session, source: Source, replay: Replay
) -> dict[int, Entry]:
    """Map the replay's entries to the stored rows they are, by identity.

    The replay's final state is the page at its tip, as the stored rows are:
    the same matching as between two revisions pairs them up.
    """
    stored = {
        row.id: row
        for row in session.exec(select(Entry).where(Entry.source_id == source.id)).all()
    }
    known = [
        Known(ref, records.entry_from_row(row))
        for ref, row in stored.items()
        if ref is not None
    ]
    final = {**replay.removed, **replay.current}
    handles = {id(entry): ref for ref, entry in final.items()}
    matches, _, _ = match_entries(known, list(final.values()))
    return {handles[id(entry)]: stored[known_row.ref] for known_row, entry in matches}


def supersede_baselines(session: Session, source: Source, explained: list[str]) -> None:
    """Retire "added" events of a first sync that history now explains.

    ``explained`` are the replayed commits after the first: a baseline
    stored at one of them was a first sync in the middle of the history.
    """
    query = (
        select(Event)
        .join(Revision, col(Event.revision_id) == Revision.id)
        .where(
            Event.source_id == source.id,
            col(Event.baseline).is_(True),
            col(Event.superseded).is_(False),
            col(Revision.commit).in_(explained),
        )
    )
    for event in session.exec(query).all():
        event.superseded = True
