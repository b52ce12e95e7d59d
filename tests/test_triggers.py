"""The daemon's schedules: cron syncs in the source's zone, digest periods."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tracker.config import Config, DigestSettings
from tracker.scheduling import TrackerDaemon, digest_trigger

NEW_YORK = ZoneInfo("America/New_York")


def test_weekly_digest_fires_monday_at_its_local_time() -> None:
    trigger = digest_trigger(
        DigestSettings(schedule="weekly", weekday="monday", time="09:00"),
        "America/New_York",
    )
    # Wednesday 2031-03-05; the next Monday is 2031-03-10, after the switch
    # to summer time on 2031-03-09, so 09:00 there is 13:00 UTC.
    after = datetime(2031, 3, 5, 12, 0, tzinfo=UTC)

    fire = trigger.get_next_fire_time(None, after)

    assert fire == datetime(2031, 3, 10, 9, 0, tzinfo=NEW_YORK)
    assert fire.astimezone(UTC) == datetime(2031, 3, 10, 13, 0, tzinfo=UTC)


def test_daily_digest_fires_every_day() -> None:
    trigger = digest_trigger(DigestSettings(schedule="daily", time="17:30"), "UTC")
    after = datetime(2031, 3, 5, 18, 0, tzinfo=UTC)

    assert trigger.get_next_fire_time(None, after) == datetime(
        2031, 3, 6, 17, 30, tzinfo=UTC
    )


def test_cron_source_syncs_in_its_zone_with_jitter() -> None:
    config = Config.model_validate(
        {
            "sources": [
                {
                    "name": "vendor",
                    "repo": "/r",
                    "path": "p.md",
                    "timezone": "America/New_York",
                    "cron": "0 6 * * *",
                    "jitter": "1m",
                }
            ]
        }
    )
    daemon = TrackerDaemon(config, engine=None)  # type: ignore[arg-type]

    trigger = daemon.sync_trigger(config.sources[0])
    fire = trigger.get_next_fire_time(None, datetime(2031, 1, 1, 12, 0, tzinfo=UTC))

    six = datetime(2031, 1, 2, 6, 0, tzinfo=NEW_YORK)
    assert six <= fire <= six.replace(minute=1)


def test_a_bad_cron_expression_is_refused() -> None:
    with pytest.raises(ValueError, match="bad cron expression '61 \\* \\* \\* \\*'"):
        Config.model_validate(
            {
                "sources": [
                    {"name": "v", "repo": "/r", "path": "p.md", "cron": "61 * * * *"}
                ]
            }
        )


def test_a_stop_leaves_a_job_that_hangs_after_its_timeout() -> None:
    config = Config.model_validate({})
    daemon = TrackerDaemon(config, engine=None)  # type: ignore[arg-type]
    running, release = threading.Event(), threading.Event()

    def hangs() -> None:
        with daemon.job():
            running.set()
            release.wait(30)

    daemon.scheduler.add_job(
        hangs, "interval", minutes=5, next_run_time=datetime.now(UTC)
    )
    daemon.scheduler.start()
    assert running.wait(10)

    started = time.monotonic()
    stopped = daemon.stop(timeout=0.5)
    waited = time.monotonic() - started
    release.set()

    assert stopped is False
    assert 0.5 <= waited < 5
