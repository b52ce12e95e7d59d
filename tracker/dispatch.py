"""Send what is due: plan the outbox, claim due rows, render, deliver.

``dispatch`` is what ``tracker remind`` and the daemon run. Each row is
claimed, sent and settled in transactions of its own, so that a crash
loses nothing (a claimed row is claimed again when its lease ends) and a
message is never sent twice once its delivery was recorded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from tracker import outbox
from tracker.config import Channel, Config, EmailChannel, SlackChannel, parse_duration
from tracker.errors import ConfigError, DeliveryError
from tracker.notify.base import Message, Notifier, Receipt, read_secret
from tracker.notify.email import EmailNotifier
from tracker.notify.render import (
    AlertView,
    DigestView,
    EntryView,
    ReminderView,
    Renderer,
    SourceHealthView,
    SummaryView,
)
from tracker.notify.slack import SlackNotifier, SlackWebhookNotifier
from tracker.parsing.dates import describe_date
from tracker.parsing.model import Precision, Status
from tracker.planning import EntryState, follows
from tracker.store.db import session_scope
from tracker.store.models import Entry, Event, Notification, Revision, Source

log = logging.getLogger(__name__)

# How far the channel's clock may be behind ours, when looking for a
# message an interrupted try may have delivered.
CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class Outcome:
    """What became of one due notification."""

    key: str
    channel: str
    kind: str
    title: str
    status: str
    detail: str
    late: bool
    message: Message | None = None
    latency: float | None = None


NotifierFactory = Callable[[Channel], Notifier]


def build_notifier(channel: Channel) -> Notifier:
    """The notifier of a configured channel, with its secrets read."""
    if isinstance(channel, SlackChannel):
        token = read_secret(
            channel.name, "Slack bot token", channel.token_env, channel.token_file
        )
        return SlackNotifier(channel, token)
    if isinstance(channel, EmailChannel):
        username = (
            read_secret(channel.name, "SMTP user", channel.username_env)
            if channel.username_env
            else None
        )
        password = (
            read_secret(channel.name, "SMTP password", channel.password_env)
            if channel.password_env
            else None
        )
        return EmailNotifier(channel, username, password)
    url = read_secret(channel.name, "Slack webhook URL", channel.url_env)
    try:
        return SlackWebhookNotifier(channel, url)
    except ValueError:
        # urllib's message would quote the URL, which is a secret.
        raise ConfigError(
            f"channel {channel.name!r}: the URL in {channel.url_env} is not a valid "
            "URL; put the incoming webhook's URL there"
        ) from None


def dispatch(
    engine: Engine,
    config: Config,
    now: datetime,
    *,
    dry_run: bool = False,
    notifier_for: NotifierFactory = build_notifier,
    stop: threading.Event | None = None,
    plan_reminders: bool = True,
) -> list[Outcome]:
    """Plan the outbox at ``now`` and send every message due then.

    A dry run plans and renders in a transaction that is rolled back: it
    shows what would be sent and changes nothing. Setting ``stop`` ends the
    round after the message in flight. ``plan_reminders`` False skips
    planning reminders, for a caller that knows nothing changed since.
    """
    renderer = Renderer(config.notify.templates_dir)
    if dry_run:
        return preview(engine, config, now, renderer)

    # Secrets are read before anything is claimed: a missing token is a
    # config error to fix, not a claim left to expire.
    notifiers = {channel.name: notifier_for(channel) for channel in config.channels}
    channels = {channel.name: channel for channel in config.channels}
    worker = outbox.worker_name()
    with session_scope(engine) as session:
        outbox.release_dead_claims(session, now)
        outbox.plan(session, config, now, reminders=plan_reminders)
    # One row at a time: a claim's lease then only has to outlast one send.
    outcomes: list[Outcome] = []
    while stop is None or not stop.is_set():
        with session_scope(engine) as session:
            claimed = outbox.claim_due(session, config, now, worker=worker, limit=1)
        if not claimed:
            return outcomes
        row = claimed[0]
        outcomes.append(
            deliver(
                engine,
                config,
                row,
                channels[row.channel],
                renderer,
                notifiers,
                notifier_for,
                now,
            )
        )
    return outcomes


def send_digest_now(
    engine: Engine,
    config: Config,
    channel: Channel,
    now: datetime,
    *,
    dry_run: bool = False,
    notifier_for: NotifierFactory = build_notifier,
) -> Outcome:
    """Send a channel's digest now, outside its schedule.

    It counts as the current period's digest when the channel has a
    schedule, so the scheduled one is not sent again.
    """
    renderer = Renderer(config.notify.templates_dir)
    with session_scope(engine) as session:
        row = outbox.queue_digest(session, channel, now)
        key = row.key
        if row.status != "pending":
            return Outcome(
                key,
                channel.name,
                "digest",
                key,
                f"already {row.status}",
                "this period's digest was already handled",
                row.late,
            )
        if dry_run:
            message, title = render(session, config, row, channel, renderer, now)
            session.rollback()
            status = "would send" if message else "nothing to report"
            return Outcome(
                key,
                channel.name,
                "digest",
                title,
                status,
                "dry run",
                False,
                message,
            )
        row.status, row.claimed_by, row.claimed_until = (
            "sending",
            outbox.worker_name(),
            now + outbox.LEASE,
        )
        row.attempts += 1
    return deliver(engine, config, row, channel, renderer, {}, notifier_for, now)


def send_test(
    channel: Channel, now: datetime, *, notifier_for: NotifierFactory = build_notifier
) -> Outcome:
    """Send one test message straight to a channel (no outbox) and return the answer."""
    renderer = Renderer(None)
    key = f"test:{channel.name}:{now:%Y-%m-%dT%H:%M:%SZ}"
    message = renderer.test(channel.name, key=key)
    receipt = notifier_for(channel).send(message)
    return Outcome(
        key,
        channel.name,
        "test",
        "test message",
        "sent",
        receipt.detail,
        False,
        message,
    )


def preview(
    engine: Engine, config: Config, now: datetime, renderer: Renderer
) -> list[Outcome]:
    """What ``dispatch`` would send at ``now``, rendered, with nothing stored."""
    channels = {channel.name: channel for channel in config.channels}
    outcomes = []
    with Session(engine) as session:
        outbox.plan(session, config, now)
        for row in outbox.claim_due(
            session, config, now, worker="dry-run", log_skips=False
        ):
            message, title = render(
                session, config, row, channels[row.channel], renderer, now
            )
            if message is None:
                continue
            late = now - row.due_at > outbox.LATE_AFTER
            outcomes.append(
                Outcome(
                    row.key,
                    row.channel,
                    row.kind,
                    title,
                    "would send",
                    "dry run",
                    late,
                    message,
                )
            )
        session.rollback()
    return outcomes


def deliver(
    engine: Engine,
    config: Config,
    row: Notification,
    channel: Channel,
    renderer: Renderer,
    notifiers: dict[str, Notifier],
    notifier_for: NotifierFactory,
    now: datetime,
) -> Outcome:
    """Render and send one claimed row, then record what happened.

    Whatever goes wrong with this one row (a template that fails, a notifier
    bug) is recorded on it as a permanent failure: it must not stop the
    other messages, nor leave the row to be claimed again and again.
    """
    try:
        return attempt(
            engine, config, row, channel, renderer, notifiers, notifier_for, now
        )
    except Exception as error:  # the boundary of one delivery
        log.error(
            "delivery crashed key=%s channel=%s error=%r", row.key, row.channel, error
        )
        log.debug("delivery crash", exc_info=True)
        failure = DeliveryError(f"{type(error).__name__}: {error}", permanent=True)
        with session_scope(engine) as session:
            stored = session.get(Notification, row.id)
            if stored is not None:
                outbox.mark_failed(stored, config, now, failure)
        return Outcome(
            row.key, row.channel, row.kind, row.key, "failed", str(failure), False
        )


def attempt(
    engine: Engine,
    config: Config,
    row: Notification,
    channel: Channel,
    renderer: Renderer,
    notifiers: dict[str, Notifier],
    notifier_for: NotifierFactory,
    now: datetime,
) -> Outcome:
    """Render and send one claimed row; a DeliveryError is recorded, not raised."""
    with session_scope(engine) as session:
        message, title = render(session, config, row, channel, renderer, now)
    if message is None:
        with session_scope(engine) as session:
            stored = session.get(Notification, row.id)
            if stored is not None:
                outbox.settle(stored, "skipped", now, error="nothing to report")
        return Outcome(
            row.key, row.channel, row.kind, title, "skipped", "nothing to report", False
        )

    try:
        notifier = notifiers.get(channel.name) or notifier_for(channel)
        skip = row.delivered_posts
        if row.interrupted:
            since = row.created_at - CLOCK_SKEW
            skip = max(skip, notifier.delivered(message, since) or 0)
        if message.slack and skip >= len(message.slack):
            log.info(
                "notification found in the channel after an interrupted try key=%s",
                row.key,
            )
            receipt = Receipt("already in the channel")
        else:
            receipt = notifier.send(message, skip_posts=skip)
    except DeliveryError as error:
        status, detail = "failed", str(error)
        with session_scope(engine) as session:
            stored = session.get(Notification, row.id)
            if stored is not None:
                outbox.mark_failed(stored, config, now, error)
                status = stored.status
                if status == "pending":
                    detail += f"; next try {stored.next_attempt_at:%Y-%m-%d %H:%M}Z"
        log.warning(
            "delivery failed key=%s channel=%s permanent=%s error=%s",
            row.key,
            row.channel,
            error.permanent,
            error,
        )
        return Outcome(
            row.key, row.channel, row.kind, title, status, detail, False, message
        )

    with session_scope(engine) as session:
        stored = session.get(Notification, row.id)
        if stored is not None:
            outbox.mark_sent(stored, now, receipt.detail)
            late = stored.late
    log.info(
        "notification sent key=%s channel=%s late=%s response=%s",
        row.key,
        row.channel,
        late,
        receipt.detail,
    )
    latency = max((datetime.now(UTC) - row.due_at).total_seconds(), 0.0)
    return Outcome(
        row.key,
        row.channel,
        row.kind,
        title,
        "sent",
        receipt.detail,
        late,
        message,
        latency,
    )


def render(
    session: Session,
    config: Config,
    row: Notification,
    channel: Channel,
    renderer: Renderer,
    now: datetime,
) -> tuple[Message | None, str]:
    """The message of a row and a short title for listings (None: nothing to say)."""
    zone = ZoneInfo(channel.timezone)
    if row.kind == "reminder" and row.entry_id is not None:
        entry, source = entry_and_source(session, row.entry_id)
        state = outbox.state_of(session, row.entry_id, now)
        reminder = ReminderView(
            entry=entry_view(session, entry, source, config, zone, now, state),
            lead=row.lead or "",
            lead_text=describe_lead(reminder_time_left(row, now)),
            late=now - row.due_at > outbox.LATE_AFTER,
        )
        return renderer.reminder(reminder, key=row.key), entry.title
    if row.kind == "alert" and row.event_id is not None:
        event = session.get(Event, row.event_id)
        if event is None:
            return None, row.key
        alert = alert_view(session, event, config, zone, now)
        return renderer.alert(alert, key=row.key), f"{event.kind}: {event.title}"
    if row.kind == "summary" and row.source_id is not None:
        tracked = session.get(Source, row.source_id)
        if tracked is None:
            return None, row.key
        summary = summary_view(session, tracked, config)
        return renderer.summary(summary, key=row.key), f"now tracking {tracked.name}"
    if row.kind == "digest":
        digest = digest_view(session, config, channel, row, zone, now)
        if digest is None:
            return None, f"digest {row.due_at:%Y-%m-%d}"
        return renderer.digest(digest, key=row.key), digest.period
    if row.kind == "source" and row.source_id is not None:
        failing = session.get(Source, row.source_id)
        if failing is None:
            return None, row.key
        health = row.key.split(":")[3]
        facts = row.facts or {}
        since = facts.get("since")
        notice = SourceHealthView(
            source=failing.name,
            state=health,
            error=facts.get("error") or "no successful sync recently",
            failures=int(facts.get("failures", failing.consecutive_failures)),
            since=datetime.fromisoformat(since) if since else failing.last_synced_at,
        )
        return renderer.source_health(
            notice, key=row.key
        ), f"source {health}: {failing.name}"
    if row.kind == "test":
        return renderer.test(channel.name, key=row.key), "test message"
    return None, row.key


def entry_and_source(session: Session, entry_id: int) -> tuple[Entry, Source]:
    """An entry row and its source row."""
    found = session.exec(
        select(Entry, Source)
        .join(Source, col(Source.id) == Entry.source_id)
        .where(Entry.id == entry_id)
    ).one()
    return found[0], found[1]


def source_link(
    config: Config, source: Source, commit: str | None, path: str | None
) -> str | None:
    """A web link to the page at ``commit``, when the source has one."""
    if commit is None:
        return None
    for settings in config.sources:
        if settings.name == source.name:
            return settings.page_link(commit, path or source.path)
    return None


def entry_view(
    session: Session,
    entry: Entry,
    source: Source,
    config: Config,
    zone: ZoneInfo,
    now: datetime,
    state: EntryState | None = None,
) -> EntryView:
    """What templates get to know about an entry.

    ``state`` gives the date and status the page had at ``now`` when that
    differs from the latest (a reminder sent for a date since moved); the
    text is always the latest.
    """
    revision = session.get(Revision, entry.last_revision_id)
    day, due_at = entry.date, entry.due_at
    precision, status = Precision(entry.precision), entry.status
    date_text = entry.date_text
    if state is not None and (state.date, state.due_at) != (day, due_at):
        day, due_at, precision = state.date, state.due_at, state.precision
        status = state.status.value
        date_text = describe_date(
            date=day, due_at=due_at, precision=precision, zone=zone
        )
    days = None
    if due_at is not None:
        days = (due_at.astimezone(zone).date() - now.astimezone(zone).date()).days
    return EntryView(
        id=entry.id or 0,
        source=source.name,
        title=entry.title,
        status=status,
        when=describe_date(date=day, due_at=due_at, precision=precision, zone=zone),
        date_text=date_text,
        due_at=due_at,
        precision=precision.value,
        details=entry.details,
        link=source_link(config, source, revision.commit, revision.path)
        if revision
        else None,
        days_left=days,
    )


def alert_view(
    session: Session, event: Event, config: Config, zone: ZoneInfo, now: datetime
) -> AlertView:
    """What templates get to know about an event."""
    entry, source = entry_and_source(session, event.entry_id)
    revision = session.get(Revision, event.revision_id)
    commit = revision.commit if revision else ""

    def when(
        day: date | None, due_at: datetime | None, precision: str | None
    ) -> str | None:
        if precision is None:
            return None
        return describe_date(
            date=day, due_at=due_at, precision=Precision(precision), zone=zone
        )

    shift = None
    if event.kind == "rescheduled" and event.old_date and event.new_date:
        shift = (event.new_date - event.old_date).days
    return AlertView(
        kind=event.kind,
        entry=entry_view(session, entry, source, config, zone, now),
        old_when=when(event.old_date, event.old_due_at, event.old_precision),
        new_when=when(event.new_date, event.new_due_at, event.new_precision),
        shift_days=shift,
        old_status=event.old_status,
        new_status=event.new_status,
        revision=commit,
        revision_at=event.revision_at,
        link=source_link(config, source, commit, revision.path if revision else None),
    )


def summary_view(session: Session, source: Source, config: Config) -> SummaryView:
    """The one line a channel gets when a source is first tracked."""
    entries = session.exec(
        select(Entry).where(Entry.source_id == source.id, col(Entry.removed).is_(False))
    ).all()
    upcoming = sum(1 for entry in entries if entry.status == Status.UPCOMING.value)
    return SummaryView(
        source=source.name,
        entries=len(entries),
        upcoming=upcoming,
        link=source_link(config, source, source.last_commit, source.path),
    )


def digest_view(
    session: Session,
    config: Config,
    channel: Channel,
    row: Notification,
    zone: ZoneInfo,
    now: datetime,
) -> DigestView | None:
    """The digest of one period, or None when it would be empty."""
    horizon = parse_duration(channel.digest.horizon if channel.digest else "30d")
    coming: list[EntryView] = []
    undated: list[EntryView] = []
    for state in outbox.entries_as_of(session, now):
        if state.status is not Status.UPCOMING:
            continue
        if not follows(channel, state.source, state.title, state.details):
            continue
        entry, source = entry_and_source(session, state.entry_id)
        view = entry_view(session, entry, source, config, zone, now)
        if reminder_target_or_date(state.due_at, state.precision) is None:
            undated.append(view)
        elif state.due_at is not None and state.due_at <= now + horizon:
            coming.append(view)

    changes = [
        view
        for view in (
            alert_view(session, event, config, zone, now)
            for event in changes_since_last_digest(session, channel, row)
            if event.kind in channel.events
        )
        if follows(channel, view.entry.source, view.entry.title, view.entry.details)
    ]
    if not coming and not undated and not changes:
        return None
    return DigestView(
        channel=channel.name,
        period=f"{'week' if channel.digest and channel.digest.schedule == 'weekly' else 'day'} of {row.due_at.astimezone(zone):%Y-%m-%d}",
        horizon=channel.digest.horizon if channel.digest else "30d",
        weeks=group_by_week(coming, zone),
        undated=undated,
        changes=changes,
    )


def reminder_target_or_date(
    due_at: datetime | None, precision: Precision
) -> datetime | None:
    """An entry's instant when its date is exact enough to count down to."""
    if precision in (Precision.MINUTE, Precision.DAY):
        return due_at
    return None


def changes_since_last_digest(
    session: Session, channel: Channel, row: Notification
) -> list[Event]:
    """Events the tracker found since the channel's previous digest went out."""
    previous = session.exec(
        select(Notification)
        .where(
            Notification.channel == channel.name,
            Notification.kind == "digest",
            Notification.status == "sent",
            col(Notification.id) != row.id,
        )
        .order_by(col(Notification.sent_at).desc())
        .limit(1)
    ).first()
    if previous is not None and previous.sent_at is not None:
        since = previous.sent_at
    else:
        weekly = channel.digest is not None and channel.digest.schedule == "weekly"
        since = row.due_at - timedelta(days=7 if weekly else 1)
    query = (
        select(Event)
        .where(col(Event.superseded).is_(False), col(Event.baseline).is_(False))
        .where(col(Event.detected_at) > since)
        .order_by(col(Event.revision_at), col(Event.id))
    )
    return list(session.exec(query).all())


def group_by_week(
    entries: list[EntryView], zone: ZoneInfo
) -> list[tuple[str, list[EntryView]]]:
    """Entries grouped by the week (Monday first) of their date, soonest first."""
    weeks: dict[str, list[EntryView]] = {}
    for entry in sorted(
        entries, key=lambda view: view.due_at or datetime.max.replace(tzinfo=UTC)
    ):
        if entry.due_at is None:
            continue
        day = entry.due_at.astimezone(zone).date()
        monday = day - timedelta(days=day.weekday())
        weeks.setdefault(f"Week of {monday:%Y-%m-%d}", []).append(entry)
    return list(weeks.items())


def reminder_time_left(row: Notification, now: datetime) -> timedelta:
    """How long before the change a reminder goes out: its lead, or less if late."""
    lead = parse_duration(row.lead) if row.lead else timedelta(0)
    if row.target_at is None or now - row.due_at <= outbox.LATE_AFTER:
        return lead
    return row.target_at - now


def describe_lead(amount: timedelta) -> str:
    """Time left in words: "in 7 days", "tomorrow", "in 2 hours"."""
    if amount == timedelta(days=1):
        return "tomorrow"
    if amount >= timedelta(days=1):
        days = round(amount / timedelta(days=1))
        exact = amount % timedelta(days=1) == timedelta(0)
        return f"in {'' if exact else 'about '}{days} day{'s' if days != 1 else ''}"
    hours = amount.total_seconds() / 3600
    if hours >= 1 and hours == int(hours):
        return f"in {int(hours)} hour{'s' if hours != 1 else ''}"
    if hours >= 1:
        return f"in about {round(hours)} hours"
    minutes = max(int(amount.total_seconds() // 60), 0)
    return f"in {minutes} minute{'s' if minutes != 1 else ''}"
