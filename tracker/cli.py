"""The ``tracker`` command line: the only code that prints or picks exit codes."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer._click.exceptions import NoArgsIsHelpError

from tracker import __version__
from tracker.config import (
    Config,
    check_zone,
    load_config,
    parse_duration,
)
from tracker.dispatch import (
    Outcome,
    build_notifier,
    dispatch,
    send_digest_now,
    send_test,
)
from tracker.errors import ConfigError, ParseError, TrackerError
from tracker.health import HealthServer, Metrics
from tracker.logsetup import FORMATS, LEVELS, configure_logging
from tracker.parsing import FORMATS as PAGE_FORMATS
from tracker.parsing import PageRules, detect_format, parse_page
from tracker.parsing.dates import describe_date
from tracker.parsing.model import ParsedEntry, Precision, Status
from tracker.parsing.text import strip_control
from tracker.scheduling import TrackerDaemon, instance_lock
from tracker.store import records
from tracker.store.db import (
    open_engine,
    schema_mismatch,
    schema_state,
    session_scope,
    upgrade_schema,
)
from tracker.store.models import Entry, Event, Notification, Revision, Source
from tracker.sync import SyncResult, backfill_source, sync_source

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class TrackerGroup(typer.core.TyperGroup):
    """Commands whose errors are one line on stderr and an exit code.

    A TrackerError exits 1 (2 for a bad config); a usage error keeps its
    exit code 2 but is shown without the usage block, as one line.
    """

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            err.print(f"error: {safe(str(error))}")
            ctx.exit(2)
        except TrackerError as error:
            err.print(f"error: {safe(str(error))}")
            ctx.exit(1)
        except typer.TyperException as error:
            # A usage error prints its command's usage first when it knows
            # its context; without it, the message alone.
            # A group called without a command shows its help, which needs it.
            if isinstance(error, NoArgsIsHelpError):
                raise
            if getattr(error, "exit_code", None) == 2 and hasattr(error, "ctx"):
                error.ctx = None
            raise


app = typer.Typer(
    cls=TrackerGroup,
    help="Track vendors' change calendars and tell people before the dates arrive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click errors: one line, no box, whatever the terminal.
    rich_markup_mode=None,
)


OUTBOX_STATES = ("pending", "sending", "sent", "failed", "skipped", "cancelled")
# Longer spans reach past the dates a datetime can hold.
MAX_SPAN = timedelta(days=36525)
SourceOption = Annotated[
    str | None, typer.Option("--source", "-s", help="Only this source.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@dataclass
class Context:
    """What the global options chose, for the commands."""

    config_path: Path | None

    def config(self) -> Config:
        return load_config(self.config_path)


def safe(text: str) -> str:
    """Text fit for the terminal: no control characters, no Rich markup.

    Titles and details come from vendors' pages, which are untrusted.
    """
    return escape(strip_control(text))


def version_callback(value: bool) -> None:
    """Print the version and stop."""
    if value:
        out.print(f"tracker {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file (default: $TRACKER_CONFIG, then ./tracker.toml).",
            dir_okay=False,
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(help=f"One of {', '.join(LEVELS)}.")
    ] = "warning",
    log_format: Annotated[
        str, typer.Option(help=f"One of {', '.join(FORMATS)}.")
    ] = "text",
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=version_callback,
            is_eager=True,
            help="Show the version.",
        ),
    ] = False,
) -> None:
    """Track vendors' change calendars and tell people before the dates arrive."""
    if log_level.lower() not in LEVELS:
        raise typer.BadParameter(
            f"use one of {', '.join(LEVELS)}", param_hint="--log-level"
        )
    if log_format not in FORMATS:
        raise typer.BadParameter(
            f"use one of {', '.join(FORMATS)}", param_hint="--log-format"
        )
    configure_logging(log_level.lower(), log_format)
    ctx.obj = Context(config_path=config)


def open_store(config: Config) -> Engine:
    """The database engine for ``config``, schema up to date."""
    return open_engine(config.database_url)


def open_for_source(ctx: typer.Context, source: str | None) -> tuple[Config, Engine]:
    """The config and store for a command, checking ``--source`` names a source."""
    config: Config = ctx.obj.config()
    if source is not None:
        config.source(source)
    return config, open_store(config)


def selected_sources(config: Config, name: str | None) -> list[Any]:
    """The sources a command works on: one by name, or all."""
    if name is not None:
        return [config.source(name)]
    if not config.sources:
        where = config.path or "the config"
        raise ConfigError(
            f"no [[sources]] in {where}; add one (see config.example.toml)"
        )
    return list(config.sources)


@app.command()
def sync(
    ctx: typer.Context,
    source: SourceOption = None,
    accept_removals: Annotated[
        bool, typer.Option(help="Store a revision even if it drops most entries.")
    ] = False,
) -> None:
    """Fetch each source's newest revision and record what changed."""
    config = ctx.obj.config()
    engine = open_store(config)
    failed = 0
    for settings in selected_sources(config, source):
        try:
            result = sync_source(
                engine, config, settings, accept_removals=accept_removals
            )
        except TrackerError as error:
            err.print(f"error: {safe(str(error))}")
            failed += 1
            continue
        out.print(safe(summarize(result)))
    if failed:
        raise typer.Exit(1)


@app.command()
def backfill(
    ctx: typer.Context,
    source: SourceOption = None,
) -> None:
    """Replay each source's whole git history into the event log."""
    config = ctx.obj.config()
    engine = open_store(config)
    failed = 0
    for settings in selected_sources(config, source):
        try:
            result = backfill_source(engine, config, settings)
        except TrackerError as error:
            err.print(f"error: {safe(str(error))}")
            failed += 1
            continue
        out.print(safe(summarize(result, backfill=True)))
        for reason in result.skipped:
            err.print(f"warning: skipped a revision: {safe(reason)}")
    if failed:
        raise typer.Exit(1)


def summarize(result: SyncResult, *, backfill: bool = False) -> str:
    """One line saying what a sync or backfill did."""
    commit = f"commit {result.commit[:12]}" if result.commit else "no commit"
    when = f", {result.committed_at:%Y-%m-%d}" if result.committed_at else ""
    counts = (
        ", ".join(f"{n} {kind}" for kind, n in sorted(result.counts.items()))
        or "no events"
    )
    if backfill:
        skipped = f", {len(result.skipped)} skipped" if result.skipped else ""
        return (
            f"{result.source}: replayed {result.revisions} revisions{skipped}: {counts}; "
            f"{count(result.entries, 'entry', 'entries')} now ({commit}{when})"
        )
    if result.busy:
        return f"{result.source}: another process is syncing it; skipped"
    if result.polled:
        return f"{result.source}: no new revision (the feed shows none; not fetched), {count(result.entries, 'entry', 'entries')} ({commit})"
    if result.unchanged:
        return f"{result.source}: no new revision, {count(result.entries, 'entry', 'entries')} ({commit}{when})"
    if result.baseline:
        return f"{result.source}: first sync, {count(result.entries, 'entry', 'entries')} recorded as baseline ({commit}{when})"
    return f"{result.source}: {counts}; {count(result.entries, 'entry', 'entries')} ({commit}{when})"


def count(number: int, one: str, many: str) -> str:
    """``number`` with the noun in the right form: "1 entry", "2 entries"."""
    return f"{number} {one if number == 1 else many}"


@app.command("list")
def list_entries(
    ctx: typer.Context,
    upcoming: Annotated[
        bool,
        typer.Option(
            "--upcoming", help="Changes the page lists as upcoming (default)."
        ),
    ] = False,
    completed: Annotated[
        bool, typer.Option("--completed", help="Changes the page lists as completed.")
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Upcoming and completed.")
    ] = False,
    within: Annotated[
        str | None,
        typer.Option(help="Only changes dated before now plus this, e.g. 30d."),
    ] = None,
    source: SourceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tracked changes, soonest first."""
    if sum([upcoming, completed, show_all]) > 1:
        raise typer.BadParameter("choose one of --upcoming, --completed, --all")
    statuses = (
        None
        if show_all
        else [Status.COMPLETED.value]
        if completed
        else [Status.UPCOMING.value]
    )
    horizon = (
        datetime.now(UTC) + read_duration(within, "--within")
        if within is not None
        else None
    )

    config, engine = open_for_source(ctx, source)
    with session_scope(engine) as session:
        rows = records.list_entries(
            session, sources=[source] if source else None, statuses=statuses
        )
    if horizon is not None:
        rows = [
            (row, name)
            for row, name in rows
            if row.due_at is not None and row.due_at <= horizon
        ]
    if as_json:
        print_json([entry_json(row, name) for row, name in rows])
        return
    if not rows:
        out.print("No changes match.")
        return
    out.print(entries_table(rows, config))


def read_duration(text: str, option: str) -> timedelta:
    """A duration option's value; a bad or absurd one is a usage error."""
    try:
        duration = parse_duration(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None
    if duration > MAX_SPAN:
        raise typer.BadParameter(
            f"{text!r} is more than 100 years; give a shorter span", param_hint=option
        )
    return duration


def zone_of(config: Config, source_name: str) -> ZoneInfo:
    """The zone a source's dates are shown in."""
    for settings in config.sources:
        if settings.name == source_name:
            return config.source_zone(settings)
    return ZoneInfo(config.tracker.timezone)


def entries_table(rows: Sequence[tuple[Entry, str]], config: Config) -> Table:
    """A readable table of entries with the days left."""
    table = Table(show_edge=False, pad_edge=False, expand=False)
    for heading in ("ID", "Source", "Status", "Date", "When"):
        table.add_column(heading, no_wrap=True)
    table.add_column("Title", overflow="fold")
    today = datetime.now(UTC)
    for row, name in rows:
        zone = zone_of(config, name)
        shown = entry_date(row, zone)
        table.add_row(
            str(row.id),
            safe(name),
            row.status,
            safe(shown),
            safe(days_left(row.due_at, row.date, Status(row.status), today, zone)),
            safe(row.title),
        )
    return table


def entry_date(row: Entry, zone: ZoneInfo) -> str:
    """A stored entry's date for people, with a range's last day."""
    shown = describe_date(
        date=row.date, due_at=row.due_at, precision=Precision(row.precision), zone=zone
    )
    if row.end_date is not None:
        shown += f" to {row.end_date.isoformat()}"
    return shown


def days_left(
    due_at: datetime | None,
    day: date | None,
    status: Status,
    now: datetime,
    zone: ZoneInfo,
) -> str:
    """Say how far a change is: "in 5 days", "today", "overdue by 3 days"."""
    if due_at is None or day is None:
        return "date not fixed"
    days = (due_at.astimezone(zone).date() - now.astimezone(zone).date()).days
    plural = "" if abs(days) == 1 else "s"
    if days > 0:
        return f"in {days} day{plural}"
    if days == 0:
        return "today" if status is Status.UPCOMING else "done today"
    if status is Status.UPCOMING:
        return f"overdue by {-days} day{plural}"
    return f"{-days} day{plural} ago"


@app.command()
def show(
    ctx: typer.Context,
    entry_id: Annotated[
        int,
        typer.Argument(
            help="The entry's ID, from 'tracker list'.", min=1, max=2**63 - 1
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Show one change with its details and history."""
    config = ctx.obj.config()
    engine = open_store(config)
    with session_scope(engine) as session:
        found = session.exec(
            select(Entry, Source.name)
            .join(Source, col(Entry.source_id) == Source.id)
            .where(Entry.id == entry_id)
        ).first()
        if found is None:
            raise TrackerError(
                f"no entry with id {entry_id}; 'tracker list --all' shows the ids"
            )
        row, name = found
        history = event_list(session, entry_id=entry_id)
    if as_json:
        print_json(
            {
                **entry_json(row, name),
                "links": row.links,
                "removed": row.removed,
                "events": [event_json(e, n, c) for e, n, c in history],
            }
        )
        return
    zone = zone_of(config, name)
    shown = entry_date(row, zone)
    out.print(f"[bold]{safe(row.title)}[/bold]")
    out.print(
        f"source: {safe(name)}   status: {row.status}{' (removed from the page)' if row.removed else ''}"
    )
    out.print(
        f"date: {safe(shown)}   as written: {safe(row.date_text)!r}   "
        f"{days_left(row.due_at, row.date, Status(row.status), datetime.now(UTC), zone)}"
    )
    for warning in row.warnings:
        out.print(f"warning: {safe(warning)}")
    if row.details:
        out.print()
        out.print(safe(row.details))
    for link in row.links:
        out.print(f"link: {safe(link)}")
    if history:
        out.print()
        out.print(events_table(history, config))


@app.command()
def events(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(help="Only events of page revisions in this past span, e.g. 7d."),
    ] = None,
    source: SourceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List what changed on the pages, oldest first."""
    after = (
        datetime.now(UTC) - read_duration(since, "--since")
        if since is not None
        else None
    )
    config, engine = open_for_source(ctx, source)
    with session_scope(engine) as session:
        found = event_list(session, source=source, after=after)
    if as_json:
        print_json([event_json(event, name, commit) for event, name, commit in found])
        return
    if not found:
        out.print("No events match.")
        return
    out.print(events_table(found, config))


def event_list(
    session: Session,
    *,
    source: str | None = None,
    after: datetime | None = None,
    entry_id: int | None = None,
) -> list[tuple[Event, str, str]]:
    """Events with their source names and commits, oldest first."""
    query = (
        select(Event, Source.name, Revision.commit)
        .join(Source, col(Event.source_id) == Source.id)
        .join(Revision, col(Event.revision_id) == Revision.id)
        .where(col(Event.superseded).is_(False))
    )
    if source is not None:
        query = query.where(Source.name == source)
    if after is not None:
        query = query.where(col(Event.revision_at) >= after)
    if entry_id is not None:
        query = query.where(Event.entry_id == entry_id)
    query = query.order_by(col(Event.revision_at), col(Event.id))
    return [(event, name, commit) for event, name, commit in session.exec(query).all()]


def events_table(found: Sequence[tuple[Event, str, str]], config: Config) -> Table:
    """A readable table of events."""
    table = Table(show_edge=False, pad_edge=False)
    for heading in ("Revision", "Source", "Entry", "Event", "Change", "Title"):
        table.add_column(heading, overflow="fold")
    for event, name, commit in found:
        zone = zone_of(config, name)
        table.add_row(
            f"{event.revision_at.astimezone(zone):%Y-%m-%d} {commit[:7]}",
            safe(name),
            str(event.entry_id),
            event.kind + (" (baseline)" if event.baseline else ""),
            safe(describe_event(event, zone)),
            safe(event.title),
        )
    return table


def describe_event(event: Event, zone: ZoneInfo) -> str:
    """The before -> after of an event, in words."""

    def when(day: date | None, due_at: datetime | None, precision: str | None) -> str:
        return describe_date(
            date=day,
            due_at=due_at,
            precision=Precision(precision or "unknown"),
            zone=zone,
        )

    if event.kind == "rescheduled":
        old = when(event.old_date, event.old_due_at, event.old_precision)
        new = when(event.new_date, event.new_due_at, event.new_precision)
        return f"{old} -> {new}"
    if event.kind == "moved":
        return f"{event.old_status} -> {event.new_status}"
    if event.kind == "added":
        return f"{event.new_status}, {when(event.new_date, event.new_due_at, event.new_precision)}"
    if event.kind == "removed":
        return f"was {event.old_status}, {when(event.old_date, event.old_due_at, event.old_precision)}"
    return "text changed"


@app.command()
def parse(
    file: Annotated[
        Path,
        typer.Argument(
            help="A page on disk.", exists=True, dir_okay=False, readable=True
        ),
    ],
    timezone: Annotated[
        str, typer.Option(help="Zone for dates written without one.")
    ] = "UTC",
    page_format: Annotated[
        str,
        typer.Option(
            "--format", help=f"auto (by extension), {', '.join(PAGE_FORMATS)}."
        ),
    ] = "auto",
    as_json: JsonOption = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also show which tables, columns, sections, headings and items "
            "were taken or left out, and why.",
        ),
    ] = False,
    section: Annotated[
        list[str] | None,
        typer.Option(help="Read only under headings matching this (hint 'sections')."),
    ] = None,
    table_pattern: Annotated[
        list[str] | None,
        typer.Option(
            "--table",
            help="Read only tables whose header or heading matches (hint 'tables').",
        ),
    ] = None,
    key_column: Annotated[
        str | None,
        typer.Option(help="Header of the column naming each row (hint 'key_column')."),
    ] = None,
    date_column: Annotated[
        list[str] | None,
        typer.Option(help="Header of a column holding dates (hint 'date_columns')."),
    ] = None,
    shape: Annotated[
        list[str] | None,
        typer.Option(help="tables, headings or items: what to read (hint 'shapes')."),
    ] = None,
) -> None:
    """Show the entries found in a local page, to check a new source.

    The hint options take case-insensitive regular expressions, as the
    hints table of a source in the config does.
    """
    from tracker.parsing import PageHints

    try:
        check_zone(timezone)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--timezone") from None
    if page_format not in ("auto", *PAGE_FORMATS):
        raise typer.BadParameter(
            f"use auto, {', '.join(PAGE_FORMATS)}", param_hint="--format"
        )
    try:
        hints = PageHints.build(
            sections=section or (),
            tables=table_pattern or (),
            key_column=key_column,
            date_columns=date_column or (),
            shapes=shape or (),
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TrackerError(f"{file} is not UTF-8 text") from None

    rules = PageRules.build(ZoneInfo(timezone), datetime.now(UTC), hints=hints)
    try:
        page = parse_page(
            text, page_format=detect_format(file.name, page_format), rules=rules
        )
    except ParseError as error:
        where = f"{file}:{error.line}" if error.line else str(file)
        raise ParseError(f"{where}: {error}", line=error.line) from None
    if as_json:
        entries = [parsed_json(entry) for entry in page.entries]
        if not explain:
            print_json(entries)
            return
        findings = [
            {"line": f.line, "kind": f.kind, "summary": f.summary}
            for f in page.findings
        ]
        print_json({"entries": entries, "findings": findings})
        return
    zone = ZoneInfo(timezone)
    table = Table(show_edge=False, pad_edge=False)
    for heading in ("Line", "Status", "Date", "As written", "Title"):
        table.add_column(heading, overflow="fold")
    for entry in page.entries:
        shown = describe_date(
            date=entry.date, due_at=entry.due_at, precision=entry.precision, zone=zone
        )
        if entry.end is not None:
            shown += f" to {entry.end.isoformat()}"
        table.add_row(
            str(entry.line or ""),
            entry.status.value,
            safe(shown),
            safe(entry.date_text),
            safe(entry.title),
        )
    out.print(table)
    out.print(count(len(page.entries), "entry", "entries"))
    for warning in [
        *page.warnings,
        *(f"line {e.line}: {w}" for e in page.entries for w in e.warnings),
    ]:
        err.print(f"warning: {safe(warning)}")
    if explain:
        out.print("\nHow the page was read:")
        for finding in page.findings:
            where = f"line {finding.line}" if finding.line else "page"
            out.print(f"  {where:>9}  {finding.kind:<8} {safe(finding.summary)}")


@app.command()
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show each source's last sync, revision and error, and the outbox backlog."""
    config = ctx.obj.config()
    engine = open_store(config)
    with session_scope(engine) as session:
        stored = {row.name: row for row in session.exec(select(Source)).all()}
        backlog = dict(
            session.exec(
                select(Notification.status, func.count())
                .where(col(Notification.status).in_(("pending", "sending", "failed")))
                .group_by(col(Notification.status))
            ).all()
        )
        current = {
            row.name: session.exec(
                select(Revision).where(
                    Revision.source_id == row.id, Revision.commit == row.last_commit
                )
            ).first()
            for row in stored.values()
        }
    report = [
        source_status(
            settings.name, stored.get(settings.name), current.get(settings.name)
        )
        for settings in config.sources
    ]
    outbox_counts = {
        state: int(backlog.get(state, 0)) for state in ("pending", "sending", "failed")
    }
    if as_json:
        print_json({"sources": report, "outbox": outbox_counts})
        return
    table = Table(show_edge=False, pad_edge=False)
    for heading in ("Source", "Last sync", "Revision", "Failures", "Next run"):
        table.add_column(heading, no_wrap=True)
    table.add_column("Last error", overflow="fold", min_width=10)
    for item in report:
        table.add_row(
            safe(item["source"]),
            short_time(item["last_synced_at"]),
            f"{(item['revision'] or '')[:12]} {(item['revision_at'] or '')[:10]}".strip(),
            str(item["consecutive_failures"]),
            short_time(item["next_sync_at"], never="-"),
            safe(item["last_error"] or ""),
        )
    out.print(table)
    out.print(
        "outbox: "
        + ", ".join(f"{count} {state}" for state, count in outbox_counts.items())
    )


def short_time(stamp: str | None, *, never: str = "never") -> str:
    """An ISO instant to the minute, for tables: "2026-12-04 18:05Z"."""
    return f"{stamp[:16].replace('T', ' ')}Z" if stamp else never


def source_status(
    name: str, row: Source | None, revision: Revision | None
) -> dict[str, Any]:
    """The stable JSON form of one source's health."""
    return {
        "source": name,
        "last_synced_at": iso(row.last_synced_at) if row else None,
        "last_attempt_at": iso(row.last_attempt_at) if row else None,
        "revision": revision.commit if revision else None,
        "revision_at": iso(revision.committed_at) if revision else None,
        "path": row.path if row else None,
        "last_error": row.last_error if row else None,
        "consecutive_failures": row.consecutive_failures if row else 0,
        # Set by 'tracker run'; when no daemon runs, it may lie in the past.
        "next_sync_at": iso(row.next_sync_at) if row else None,
    }


def log_sighup() -> None:
    """Say why SIGHUP changes nothing."""
    logging.getLogger("tracker.scheduling").warning(
        "SIGHUP ignored: the config is read at start; restart the daemon to apply a change"
    )


@app.command()
def run(ctx: typer.Context) -> None:
    """Run as a daemon: sync each source on schedule and send what falls due.

    Stops cleanly on SIGTERM or SIGINT, after the sync or message in flight.
    The config is read at start: restart the daemon to change it.
    """
    config = ctx.obj.config()
    # A daemon with nothing to follow would run, healthy, doing nothing.
    selected_sources(config, None)
    # Every channel's secrets are read now: a daemon that cannot send must
    # not start and look healthy.
    for channel in config.channels:
        build_notifier(channel)
    engine = open_store(config)
    lock = instance_lock(config)
    metrics = Metrics(engine)
    daemon = TrackerDaemon(config, engine, metrics)
    server = (
        HealthServer(
            config.daemon.health_address, metrics, daemon.health, daemon.liveness
        )
        if config.daemon.health_address
        else None
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # SIGHUP would end the process on the spot; the config is read at start.
    signal.signal(signal.SIGHUP, lambda *_: log_sighup())
    if server is not None:
        server.start()
    daemon.start()
    try:
        while not stop.wait(timeout=1.0):
            pass
    finally:
        stopped = daemon.stop()
        if server is not None:
            server.stop()
        if lock is not None:
            lock.release()
    if not stopped:
        # A job that hangs must not keep the process (and its claims) alive;
        # its claim is released by the next daemon on this host.
        logging.shutdown()
        os._exit(1)


def read_instant(text: str | None) -> datetime:
    """The --at option: an ISO 8601 instant (UTC when it names no zone)."""
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time; write e.g. 2020-02-05T14:00:00Z",
            param_hint="--at",
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """The JSON form of a delivery outcome."""
    return {
        "key": outcome.key,
        "channel": outcome.channel,
        "kind": outcome.kind,
        "title": outcome.title,
        "status": outcome.status,
        "detail": outcome.detail,
        "late": outcome.late,
        "text": outcome.message.text if outcome.message else None,
    }


def print_outcomes(outcomes: Sequence[Outcome], *, show_text: bool) -> None:
    """One line per message, and its text for a dry run."""
    if not outcomes:
        out.print("Nothing is due.")
    for outcome in outcomes:
        late = " (late)" if outcome.late else ""
        out.print(
            f"{outcome.status}: {outcome.kind} to {safe(outcome.channel)}{late}: "
            f"{safe(outcome.title)} {safe(f'[{outcome.detail}]')}"
        )
        if show_text and outcome.message is not None:
            out.print(safe(outcome.message.text))
            out.print()


@app.command()
def remind(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show what would be sent; send and store nothing."
        ),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            help="Act as if it were this time (ISO 8601), e.g. 2020-02-05T14:00:00Z."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Plan reminders and send every message due now (or at --at)."""
    now = read_instant(at)
    config = ctx.obj.config()
    engine = open_store(config)
    outcomes = dispatch(engine, config, now, dry_run=dry_run)
    if as_json:
        print_json([outcome_json(outcome) for outcome in outcomes])
    else:
        print_outcomes(outcomes, show_text=dry_run)
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(1)


@app.command()
def digest(
    ctx: typer.Context,
    channel: Annotated[
        str | None, typer.Option("--channel", help="Only this channel.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the digest; send nothing.")
    ] = False,
) -> None:
    """Send the digest of each channel that has one (or of --channel) now."""
    config = ctx.obj.config()
    if channel is not None:
        chosen = [config.channel(channel)]
    else:
        chosen = [item for item in config.channels if item.digest is not None]
    if not chosen:
        raise ConfigError(
            "no channel has a [channels.digest] table; add one, or name a channel "
            "with --channel to send it a digest anyway"
        )
    engine = open_store(config)
    now = datetime.now(UTC)
    outcomes = [
        send_digest_now(engine, config, item, now, dry_run=dry_run) for item in chosen
    ]
    print_outcomes(outcomes, show_text=dry_run)
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(1)


@app.command("outbox")
def show_outbox(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only rows in this state: pending, sending, sent, failed, skipped, cancelled."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the notifications in the outbox, newest due first."""
    if status is not None and status not in OUTBOX_STATES:
        raise typer.BadParameter(
            f"use one of {', '.join(OUTBOX_STATES)}", param_hint="--status"
        )
    config = ctx.obj.config()
    engine = open_store(config)
    with session_scope(engine) as session:
        query = select(Notification).order_by(
            col(Notification.due_at).desc(), col(Notification.id).desc()
        )
        if status is not None:
            query = query.where(Notification.status == status)
        rows = list(session.exec(query).all())
    if as_json:
        print_json([notification_json(row) for row in rows])
        return
    if not rows:
        out.print("No notifications match." if status else "The outbox is empty.")
        return
    table = Table(show_edge=False, pad_edge=False)
    for heading in ("ID", "Channel", "Kind", "Status", "Due", "Next try", "Tries"):
        table.add_column(heading, no_wrap=True)
    table.add_column("Key / result", overflow="fold")
    for row in rows:
        result = row.last_error or row.response or ""
        table.add_row(
            str(row.id),
            safe(row.channel),
            row.kind,
            row.status + (" (late)" if row.late else ""),
            f"{row.due_at:%Y-%m-%d %H:%M}Z",
            f"{row.next_attempt_at:%Y-%m-%d %H:%M}Z" if row.status == "pending" else "",
            str(row.attempts),
            safe(f"{row.key} {result}".strip()),
        )
    out.print(table)


def notification_json(row: Notification) -> dict[str, Any]:
    """The JSON form of an outbox row."""
    return {
        "id": row.id,
        "key": row.key,
        "channel": row.channel,
        "kind": row.kind,
        "status": row.status,
        "entry_id": row.entry_id,
        "event_id": row.event_id,
        "lead": row.lead,
        "target_at": iso(row.target_at),
        "due_at": iso(row.due_at),
        "next_attempt_at": iso(row.next_attempt_at),
        "attempts": row.attempts,
        "late": row.late,
        "sent_at": iso(row.sent_at),
        "last_error": row.last_error,
        "response": row.response,
    }


db_app = typer.Typer(
    cls=TrackerGroup,
    help="The database schema: where it stands, and upgrading it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the database schema up to this tracker's version (back up first)."""
    config = ctx.obj.config()
    engine = open_engine(config.database_url, check=False)
    before = upgrade_schema(engine)
    if before.up_to_date:
        out.print(f"database schema is up to date at revision {before.head}")
    else:
        out.print(
            f"database schema upgraded from revision {before.current or 'none'} "
            f"to {before.head}"
        )


@db_app.command("current")
def db_current(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the database's schema revision and the one this tracker needs."""
    config = ctx.obj.config()
    state = schema_state(open_engine(config.database_url, check=False))
    if as_json:
        print_json(
            {
                "current": state.current,
                "head": state.head,
                "up_to_date": state.up_to_date,
            }
        )
        return
    if state.up_to_date:
        out.print(f"{state.head} (up to date)")
    else:
        out.print(f"{state.current or 'none'}: {schema_mismatch(state)}")


@app.command("test-channel")
def test_channel(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The channel's name in the config.")],
) -> None:
    """Send one test message to a channel and show the server's answer."""
    config = ctx.obj.config()
    outcome = send_test(config.channel(name), datetime.now(UTC))
    out.print(f"sent a test message to {safe(name)}: {safe(outcome.detail)}")


def iso(value: datetime | date | None) -> str | None:
    """ISO 8601; instants in UTC with a Z."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def entry_json(row: Entry, source: str) -> dict[str, Any]:
    """The stable JSON form of a stored entry."""
    return {
        "id": row.id,
        "source": source,
        "status": row.status,
        "title": row.title,
        "date": iso(row.date),
        "date_text": row.date_text,
        "due_at": iso(row.due_at),
        "precision": row.precision,
        "end_date": iso(row.end_date),
        "details": row.details,
    }


def parsed_json(entry: ParsedEntry) -> dict[str, Any]:
    """The JSON form of an entry parsed from a local page."""
    return {
        "line": entry.line,
        "status": entry.status.value,
        "title": entry.title,
        "date": iso(entry.date),
        "date_text": entry.date_text,
        "due_at": iso(entry.due_at),
        "precision": entry.precision.value,
        "end_date": iso(entry.end),
        "details": entry.details,
        "links": list(entry.links),
        "warnings": list(entry.warnings),
    }


def event_json(event: Event, source: str, commit: str) -> dict[str, Any]:
    """The stable JSON form of an event."""
    return {
        "id": event.id,
        "source": source,
        "entry_id": event.entry_id,
        "kind": event.kind,
        "title": event.title,
        "old_date": iso(event.old_date),
        "new_date": iso(event.new_date),
        "old_due_at": iso(event.old_due_at),
        "new_due_at": iso(event.new_due_at),
        "old_status": event.old_status,
        "new_status": event.new_status,
        "old_precision": event.old_precision,
        "new_precision": event.new_precision,
        "revision": commit,
        "revision_at": iso(event.revision_at),
        "detected_at": iso(event.detected_at),
        "baseline": event.baseline,
    }


def print_json(value: Any) -> None:
    """Write ``value`` as JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    """Run the CLI."""
    app()
