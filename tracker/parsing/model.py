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
    the change across revisions: the normalised title, without the date
    when the title is a sentence that writes it. Rows with the same title
    share a key; the diff tells them apart by date, section and text.

    A table with several date columns gives one entry per dated cell: its
    ``row_key`` names the row ("node js / v20" for row "v20" of the table
    under the heading "Node.js", "v20" without a heading: the normalised
    heading, " / ", the normalised key cell), and its ``key`` is the row key,
    a space and the normalised column header, so that entries of one row
    can be grouped and each cell keeps its identity when rows move.
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
class Finding:
    """What the parser recognised on a page and why, for people checking a source.

    ``kind`` is one of "table", "section", "clock", "heading", "item",
    "skipped" and "shape".
    """

    line: int | None
    kind: str
    summary: str


@dataclass(frozen=True)
class ParsedPage:
    """Every entry of one revision of a page, in page order.

    ``findings`` says which tables, sections, headings and items were read
    or left out, and why.
    """

    entries: tuple[ParsedEntry, ...]
    warnings: tuple[str, ...] = field(default=())
    findings: tuple[Finding, ...] = field(default=())
