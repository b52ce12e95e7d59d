"""When each channel should hear about each change. Pure: no I/O.

A reminder is planned for every upcoming, dated entry and every lead time
of every channel that follows it: at the exact instant minus the lead for a
change with a time, at the channel's reminder time (local) minus the lead
for a change with only a day. Vaguer dates get no countdown. A lead that
had already passed when the date became known is not planned: the alert
about the change covers it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tracker.config import Channel, NotifySettings, parse_duration
from tracker.parsing.model import Precision, Status
from tracker.parsing.text import fold

WEEKDAYS = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


@dataclass(frozen=True)
class EntryState:
    """An entry as the tracker knew it at some moment.

    ``known_since`` is when the page gave the entry its current date and
    status (the revision's commit time).
    """

    entry_id: int
    source: str
    title: str
    details: str
    status: Status
    date: date | None
    due_at: datetime | None
    precision: Precision
    known_since: datetime


@dataclass(frozen=True)
class PlannedReminder:
    """A reminder that should exist in the outbox."""

    key: str
    channel: str
    entry_id: int
    lead: str
    target_at: datetime
    due_at: datetime


def follows(channel: Channel, source: str, title: str, details: str) -> bool:
    """Tell whether ``channel`` wants to hear about an entry of ``source``."""
    if channel.sources is not None and source not in channel.sources:
        return False
    if not channel.keywords:
        return True
    text = fold(f"{title}\n{details}")
    return any(fold(keyword) in text for keyword in channel.keywords)


def reminder_target(
    entry: EntryState, channel: Channel, notify: NotifySettings
) -> datetime | None:
    """The instant reminders count down to, or None for no countdown."""
    if entry.status is not Status.UPCOMING or entry.date is None:
        return None
    if entry.precision is Precision.MINUTE and entry.due_at is not None:
        return entry.due_at
    if entry.precision is not Precision.DAY:
        return None
    clock = channel.reminder_time or notify.reminder_time
    local = datetime.combine(entry.date, parse_clock(clock), ZoneInfo(channel.timezone))
    return local.astimezone(UTC)


def plan_reminders(
    entries: Iterable[EntryState],
    channels: Sequence[Channel],
    notify: NotifySettings,
) -> list[PlannedReminder]:
    """Every reminder the entries call for, past or future.

    Whether one is still worth sending is the outbox's business: it sends
    late ones within the grace and skips older ones.
    """
    planned: list[PlannedReminder] = []
    for entry in entries:
        for channel in channels:
            if not channel.reminders or not follows(
                channel, entry.source, entry.title, entry.details
            ):
                continue
            target = reminder_target(entry, channel, notify)
            if target is None:
                continue
            for lead in channel.reminders:
                due_at = target - parse_duration(lead)
                if due_at < entry.known_since:
                    continue
                planned.append(
                    PlannedReminder(
                        key=reminder_key(channel.name, entry.entry_id, target, lead),
                        channel=channel.name,
                        entry_id=entry.entry_id,
                        lead=lead,
                        target_at=target,
                        due_at=due_at,
                    )
                )
    return planned


def reminder_key(channel: str, entry_id: int, target: datetime, lead: str) -> str:
    """The outbox key of one reminder: a new date is a new reminder."""
    return (
        f"reminder:{channel}:{entry_id}:{target.astimezone(UTC):%Y-%m-%dT%H:%MZ}:{lead}"
    )


def parse_clock(text: str) -> time:
    """Read an HH:MM time of day (already validated with the config)."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(channel: Channel, at: datetime) -> datetime | None:
    """The end of the channel's quiet hours if ``at`` falls inside them."""
    if channel.quiet_hours is None:
        return None
    zone = ZoneInfo(channel.timezone)
    local = at.astimezone(zone)
    start = parse_clock(channel.quiet_hours.start)
    end = parse_clock(channel.quiet_hours.end)
    clock = local.time()
    if start <= end:
        inside = start <= clock < end
        end_day = local.date()
    else:
        # The window runs over midnight, e.g. 22:00-07:00.
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, zone).astimezone(UTC)


def digest_period_start(channel: Channel, at: datetime) -> datetime | None:
    """The start of the newest digest period at or before ``at``, if any."""
    if channel.digest is None:
        return None
    zone = ZoneInfo(channel.timezone)
    local = at.astimezone(zone)
    clock = parse_clock(channel.digest.time)
    start = datetime.combine(local.date(), clock, zone)
    if channel.digest.schedule == "weekly":
        back = (local.weekday() - WEEKDAYS.index(channel.digest.weekday)) % 7
        start -= timedelta(days=back)
        if start > local:
            start -= timedelta(days=7)
    elif start > local:
        start -= timedelta(days=1)
    return start.astimezone(UTC)


def digest_key(channel: str, period_start: datetime) -> str:
    """The outbox key of one digest: one per channel and period."""
    return f"digest:{channel}:{period_start.astimezone(UTC):%Y-%m-%dT%H:%MZ}"
