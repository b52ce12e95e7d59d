"""What the parser produces: entries found on one revision of a page."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field


class Status(enum.StrEnum):
    """Where the page files an entry."""

    UPCOMING = "upcoming"
    COMPLETED = "completed"


class Precision(enum.StrEnum):
    """How exactly the page gives an entry's date, finest first."""

    MINUTE = "minute"
    DAY = "day"
    MONTH = "month"
    QUARTER = "quarter"
    HALF = "half"
    YEAR = "year"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ParsedDate:
    """A date as written on a page and what it means.

    ``date`` is the first day of the period the text names (the first of the
    month for "Mid January, 2022", the first day of the quarter for "Q2
    2031"); ``end`` is the last day of a range ("May 6-9, 2031"), else None.
    ``due_at`` is an aware UTC datetime: the given time when there is one,
    else the start of ``date`` in the zone the page is read in. Undated text
    ("Soon", "TBD") has ``date`` and ``due_at`` None and precision UNKNOWN.
    """

    text: str
    date: dt.date | None
    due_at: dt.datetime | None
    precision: Precision
    end: dt.date | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedEntry:
    """One dated change found on a page.

    ``end`` is the last day of a date range, else None. ``key`` identifies
    the change across revisions: the normalised title.
    Rows with the same title share a key; the diff tells them apart by date,
    section and text.
    """

    key: str
    status: Status
    title: str
    date_text: str
    date: dt.date | None
    due_at: dt.datetime | None
    precision: Precision
    end: dt.date | None = None
    details: str = ""
    details_markdown: str = ""
    links: tuple[str, ...] = ()
    section: str = ""
    line: int | None = None
    row_key: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedPage:
    """Every entry of one revision of a page, in page order."""

    entries: tuple[ParsedEntry, ...]
    warnings: tuple[str, ...] = field(default=())
