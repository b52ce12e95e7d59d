"""The ``tracker run`` daemon: APScheduler jobs, single instance, clean stop.

Each source is synced on its own interval or cron schedule (with jitter,
never two syncs of one source at once, backing off while it fails). One
dispatch job sends what the outbox has due and then sleeps until the next
due message or ten seconds, whichever comes first; a sync that queues
messages wakes it at once, and each digest period wakes it through a cron
job in its channel's zone.
"""

from __future__ import annotations

import faulthandler
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from filelock import FileLock, Timeout
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from tracker import outbox
from tracker.config import Config, DigestSettings, SourceSettings, parse_duration
from tracker.dispatch import dispatch
from tracker.errors import StoreError, TrackerError
from tracker.health import Metrics, database_check
from tracker.store import records
from tracker.store.db import session_scope
from tracker.sync import sync_source

log = logging.getLogger(__name__)

DISPATCH_JOB = "dispatch"
# The dispatch job wakes at least this often, whatever the outbox says:
# another process (a replica, 'tracker sync' on the command line) may queue
# messages this daemon is not woken for. Idle, a round is a few queries.
MAX_SLEEP = timedelta(seconds=10)
# After a dispatch round failed as a whole (the database, a channel's secret).
RETRY_DISPATCH = timedelta(minutes=1)
# How long a stop waits for the sync or message in flight; a job still
# running then is left (and the process ends), within systemd's and
# Kubernetes' default 30 s.
STOP_TIMEOUT = 25.0
# A failing source is retried after its interval times 2, 4, 8, at most.
MAX_BACKOFF_FACTOR = 8


class TrackerDaemon:
    """Runs syncs and deliveries on schedule until told to stop."""

    def __init__(
        self, config: Config, engine: Engine, metrics: Metrics | None = None
    ) -> None:
        self.config = config
        self.engine = engine
        self.metrics = metrics
        self.stopping = threading.Event()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": None,
            },
        )
        self.failures: dict[str, int] = {}
        # Jobs running now: a stop waits for them itself, since APScheduler's
        # own wait holds a lock that a running job may need.
        self.running = 0
        self.idle = threading.Condition()
        # The event log as of the last planning of reminders (see send).
        self.planned_at_marker: tuple[int, int] | None = None

    def start(self) -> None:
        """Schedule every job and start the scheduler's thread."""
        now = datetime.now(UTC)
        for settings in self.config.sources:
            self.scheduler.add_job(
                self.sync,
                self.sync_trigger(settings),
                args=[settings],
                id=f"sync:{settings.name}",
                name=f"sync {settings.name}",
                next_run_time=now,
            )
            log.info(
                "job scheduled source=%s schedule=%s",
                settings.name,
                settings.cron or f"every {settings.interval}",
            )
        self.scheduler.add_job(
            self.send, id=DISPATCH_JOB, name="dispatch", next_run_time=now
        )
        for channel in self.config.channels:
            if channel.digest is not None:
                self.scheduler.add_job(
                    self.wake,
                    digest_trigger(channel.digest, channel.timezone),
                    id=f"digest:{channel.name}",
                    name=f"digest {channel.name}",
                )
        self.scheduler.start()
        log.info(
            "daemon started sources=%d channels=%d",
            len(self.config.sources),
            len(self.config.channels),
        )

    def sync_trigger(self, settings: SourceSettings) -> BaseTrigger:
        """A source's schedule: its cron expression in its zone, or its interval."""
        jitter = parse_duration(settings.jitter).total_seconds() or None
        if settings.cron is not None:
            trigger = CronTrigger.from_crontab(
                settings.cron, timezone=self.config.source_zone(settings)
            )
            trigger.jitter = jitter
            return trigger
        return IntervalTrigger(
            seconds=parse_duration(settings.interval).total_seconds(),
            jitter=jitter,
            timezone=UTC,
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Finish the jobs in flight (a sync, a message) and stop; False if
        they were still running after ``timeout`` seconds."""
        self.stopping.set()
        # No new job starts; the lock is released at once.
        self.scheduler.shutdown(wait=False)
        with self.idle:
            finished = self.idle.wait_for(lambda: self.running == 0, timeout)
        if not finished:
            log.error(
                "jobs still running %.0f s after the stop was asked; leaving them",
                timeout,
            )
            # Where they hang, for the report.
            faulthandler.dump_traceback(all_threads=True)
            return False
        log.info("daemon stopped")
        return True

    @contextmanager
    def job(self) -> Iterator[None]:
        """Count a job as running until it returns, for ``stop``."""
        with self.idle:
            self.running += 1
        try:
            yield
        finally:
            with self.idle:
                self.running -= 1
                self.idle.notify_all()

    def sync(self, settings: SourceSettings) -> None:
        """One scheduled sync, counted as running."""
        with self.job():
            self.run_sync(settings)

    def run_sync(self, settings: SourceSettings) -> None:
        """One sync; a failure is logged and the source backs off."""
        if self.stopping.is_set():
            return
        started = time.monotonic()
        try:
            result = sync_source(self.engine, self.config, settings, wait=False)
        except TrackerError as error:
            self.record_sync(settings, ok=False, started=started)
            self.back_off(settings, error)
            self.note_next_run(settings)
            return
        if not result.busy:
            self.record_sync(settings, ok=True, started=started)
        self.failures.pop(settings.name, None)
        self.note_next_run(settings)
        if result.queued:
            self.wake()

    def note_next_run(self, settings: SourceSettings) -> None:
        """Store when the source syncs next, for 'tracker status'."""
        if self.stopping.is_set():
            return
        job = self.scheduler.get_job(f"sync:{settings.name}")
        if job is None:
            return
        try:
            with session_scope(self.engine) as session:
                source = records.find_source(session, settings.name)
                if source is not None:
                    source.next_sync_at = job.next_run_time
        except SQLAlchemyError as error:
            log.warning(
                "cannot store the next sync time source=%s error=%s",
                settings.name,
                error,
            )

    def record_sync(
        self, settings: SourceSettings, *, ok: bool, started: float
    ) -> None:
        """Count a sync and its duration in the metrics."""
        if self.metrics is not None:
            self.metrics.record_sync(settings.name, ok, time.monotonic() - started)

    def health(self) -> str | None:
        """Why the daemon is not ready, or None: for /healthz."""
        return self.liveness() or database_check(self.engine)

    def liveness(self) -> str | None:
        """Why the daemon needs a restart, or None: for /livez."""
        if not self.scheduler.running or self.stopping.is_set():
            return "scheduler is not running"
        return None

    def back_off(self, settings: SourceSettings, error: TrackerError) -> None:
        """Retry a failing source later than usual: 2, 4, then 8 intervals."""
        failures = self.failures.get(settings.name, 0) + 1
        self.failures[settings.name] = failures
        delay = parse_duration(settings.interval) * min(2**failures, MAX_BACKOFF_FACTOR)
        log.warning(
            "sync failed source=%s failures=%d retry_in=%s error=%s",
            settings.name,
            failures,
            delay,
            error,
        )
        if self.stopping.is_set():
            return
        job = self.scheduler.get_job(f"sync:{settings.name}")
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC) + delay)

    def send(self) -> None:
        """One dispatch round, counted as running."""
        with self.job():
            self.run_send()

    def run_send(self) -> None:
        """Send what is due, then sleep until the next thing falls due."""
        now = datetime.now(UTC)
        # Only a running daemon can tell a source has gone quiet for too long.
        with session_scope(self.engine) as session:
            outbox.note_stale_sources(session, self.config, now)
            marker = outbox.log_marker(session)
        # Planning reads every entry's state; it is done again only when the
        # event log changed (here or on another replica).
        try:
            outcomes = dispatch(
                self.engine,
                self.config,
                now,
                stop=self.stopping,
                plan_reminders=marker != self.planned_at_marker,
            )
        except TrackerError as error:
            log.error("dispatch failed error=%s", error)
            if not self.stopping.is_set():
                self.reschedule_send(now + RETRY_DISPATCH)
            return
        self.planned_at_marker = marker
        if outcomes:
            log.info("dispatch finished messages=%d", len(outcomes))
        for outcome in outcomes:
            if self.metrics is not None and outcome.latency is not None:
                self.metrics.record_delivery(
                    outcome.channel, outcome.kind, outcome.latency
                )
        if not self.stopping.is_set():
            self.reschedule_send(self.next_wake(now))

    def next_wake(self, now: datetime) -> datetime:
        """The next due message, or ten seconds from now.

        Digest periods wake the job through their own cron jobs.
        """
        candidates = [now + MAX_SLEEP]
        with session_scope(self.engine) as session:
            due = outbox.next_due(session)
        if due is not None:
            candidates.append(due)
        return max(min(candidates), now + timedelta(seconds=1))

    def reschedule_send(self, at: datetime) -> None:
        """Run the dispatch job once more, at ``at`` (not once stopping)."""
        if self.stopping.is_set():
            return
        self.scheduler.add_job(
            self.send,
            "date",
            run_date=at,
            id=DISPATCH_JOB,
            name="dispatch",
            replace_existing=True,
        )
        log.debug("dispatch scheduled at=%s", at.isoformat())

    def wake(self) -> None:
        """Run the dispatch job now: a sync queued alerts."""
        self.reschedule_send(datetime.now(UTC))


def digest_trigger(digest: DigestSettings, zone: str) -> CronTrigger:
    """When a channel's digest period starts, in the channel's zone."""
    hour, minute = (int(part) for part in digest.time.split(":"))
    if digest.schedule == "weekly":
        return CronTrigger(
            day_of_week=digest.weekday[:3], hour=hour, minute=minute, timezone=zone
        )
    return CronTrigger(hour=hour, minute=minute, timezone=zone)


def instance_lock(config: Config) -> FileLock | None:
    """Hold the lock that keeps a second daemon off a SQLite database.

    Raises StoreError when another daemon holds it. PostgreSQL takes several
    daemons; it needs no lock here.
    """
    url = make_url(config.database_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = Path(url.database or "tracker.db")
    lock = FileLock(str(database) + ".run.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise StoreError(
            f"another 'tracker run' is using {database}; stop it first (lock {lock.lock_file})"
        ) from None
    return lock
