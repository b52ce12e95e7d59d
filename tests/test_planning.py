"""When reminders and digests fall: the pure planning rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tracker.config import Config
from tracker.parsing.model import Precision, Status
from tracker.planning import (
    EntryState,
    digest_period_start,
    plan_reminders,
    quiet_until,
)


def config(**channel: object) -> Config:
    """A config with one Slack channel with the given settings."""
    return Config.model_validate(
        {
            "sources": [{"name": "docs", "repo": "/r", "path": "p.md"}],
            "channels": [
                {
                    "name": "team",
                    "type": "slack",
                    "channel": "#c",
                    "token_env": "T",
                    **channel,
                }
            ],
        }
    )


def entry(
    day: date,
    *,
    at: datetime | None = None,
    precision: Precision = Precision.DAY,
    status: Status = Status.UPCOMING,
    known_since: datetime = datetime(2020, 1, 1, tzinfo=UTC),
    title: str = "Retire the Face object",
) -> EntryState:
    return EntryState(
        entry_id=7,
        source="docs",
        title=title,
        details="Use concepts instead.",
        status=status,
        date=day,
        due_at=at or datetime(day.year, day.month, day.day, tzinfo=UTC),
        precision=precision,
        known_since=known_since,
    )


FEB_12_9AM_ET = datetime(2020, 2, 12, 14, 0, tzinfo=UTC)


def test_timed_change_is_reminded_at_the_instant_minus_each_lead() -> None:
    settings = config(reminders=["7d", "1d", "2h"])
    timed = entry(date(2020, 2, 12), at=FEB_12_9AM_ET, precision=Precision.MINUTE)

    planned = plan_reminders([timed], settings.channels, settings.notify)

    assert [(p.lead, p.due_at) for p in planned] == [
        ("7d", datetime(2020, 2, 5, 14, 0, tzinfo=UTC)),
        ("1d", datetime(2020, 2, 11, 14, 0, tzinfo=UTC)),
        ("2h", datetime(2020, 2, 12, 12, 0, tzinfo=UTC)),
    ]
    assert planned[0].key == "reminder:team:7:2020-02-12T14:00Z:7d"


def test_day_change_is_reminded_at_the_channel_reminder_time_in_its_zone() -> None:
    settings = config(reminders=["1d"], timezone="Europe/Berlin", reminder_time="08:30")

    planned = plan_reminders(
        [entry(date(2020, 7, 1))], settings.channels, settings.notify
    )

    # 08:30 in Berlin in summer (UTC+2) on the day before.
    assert [p.due_at for p in planned] == [datetime(2020, 6, 30, 6, 30, tzinfo=UTC)]


@pytest.mark.parametrize(
    "precision", [Precision.MONTH, Precision.QUARTER, Precision.YEAR, Precision.UNKNOWN]
)
def test_vague_dates_get_no_countdown(precision: Precision) -> None:
    settings = config(reminders=["7d"])
    vague = entry(date(2022, 1, 1), precision=precision)

    assert plan_reminders([vague], settings.channels, settings.notify) == []


def test_lead_passed_when_the_date_became_known_is_not_planned() -> None:
    settings = config(reminders=["7d", "1d"])
    announced_late = entry(
        date(2020, 2, 12),
        at=FEB_12_9AM_ET,
        precision=Precision.MINUTE,
        known_since=datetime(2020, 2, 8, tzinfo=UTC),
    )

    planned = plan_reminders([announced_late], settings.channels, settings.notify)

    assert [p.lead for p in planned] == ["1d"]


def test_completed_changes_get_no_reminders() -> None:
    settings = config(reminders=["7d"])
    done = entry(date(2020, 2, 12), status=Status.COMPLETED)

    assert plan_reminders([done], settings.channels, settings.notify) == []


def test_keywords_and_sources_choose_what_a_channel_follows() -> None:
    face = config(reminders=["1d"], keywords=["face"])
    other = config(reminders=["1d"], keywords=["billing"])
    change = entry(date(2020, 2, 12))

    assert len(plan_reminders([change], face.channels, face.notify)) == 1
    assert plan_reminders([change], other.channels, other.notify) == []


def test_quiet_hours_over_midnight_hold_messages_until_they_end() -> None:
    settings = config(
        timezone="America/New_York", quiet_hours={"start": "22:00", "end": "07:00"}
    )
    channel = settings.channels[0]

    # 23:30 and 03:00 New York time (EST, UTC-5) are quiet; 12:00 is not.
    assert quiet_until(channel, datetime(2020, 2, 12, 4, 30, tzinfo=UTC)) == datetime(
        2020, 2, 12, 12, 0, tzinfo=UTC
    )
    assert quiet_until(channel, datetime(2020, 2, 12, 8, 0, tzinfo=UTC)) == datetime(
        2020, 2, 12, 12, 0, tzinfo=UTC
    )
    assert quiet_until(channel, datetime(2020, 2, 12, 17, 0, tzinfo=UTC)) is None


def test_digest_periods_start_at_the_local_time_and_weekday() -> None:
    weekly = config(
        timezone="Europe/Berlin",
        digest={"schedule": "weekly", "weekday": "monday", "time": "09:00"},
    ).channels[0]
    daily = config(
        timezone="Europe/Berlin", digest={"schedule": "daily", "time": "09:00"}
    ).channels[0]

    # Wednesday 2020-02-12 10:00 UTC is 11:00 in Berlin (UTC+1).
    wednesday = datetime(2020, 2, 12, 10, 0, tzinfo=UTC)
    assert digest_period_start(weekly, wednesday) == datetime(
        2020, 2, 10, 8, 0, tzinfo=UTC
    )
    assert digest_period_start(daily, wednesday) == datetime(
        2020, 2, 12, 8, 0, tzinfo=UTC
    )
    assert digest_period_start(
        daily, datetime(2020, 2, 12, 7, 0, tzinfo=UTC)
    ) == datetime(2020, 2, 11, 8, 0, tzinfo=UTC)
