"""Find the dated entries in an HTML tree: sections, tables, rows, cells.

Markdown pages reach this module already rendered to HTML, so a pipe table
and a hand-written ``<table>`` are read alike. A table is understood by its
header (which column holds the date, the change, the details) or, without a
telling header, by which column's cells read as dates.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup, Tag
from bs4.element import Comment
from markdownify import MarkdownConverter

from tracker.errors import ParseError
from tracker.parsing.dates import parse_date
from tracker.parsing.markdown import LINE_ATTRIBUTE, LINE_MARKER
from tracker.parsing.model import ParsedDate, ParsedEntry, ParsedPage, Status
from tracker.parsing.text import html_to_text, inline_text, normalize_title

log = logging.getLogger(__name__)

HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
DATE_HEADER = re.compile(r"\b(date|dates|when|effective|deadline|eta|timeline)\b", re.I)
TITLE_HEADER = re.compile(
    r"\b(change|changes|title|feature|item|name|what|summary|deprecation|update)\b",
    re.I,
)
DETAILS_HEADER = re.compile(
    r"\b(details?|notes?|description|impact|more|info|action|comments?)\b", re.I
)
# A row title longer than this is a paragraph, not a title: keep its start.
TITLE_LIMIT = 200
MARKDOWN = MarkdownConverter(heading_style="ATX", bullets="-")
DEFAULT_UPCOMING_HEADINGS = ("upcoming", "planned", "scheduled", "future")
DEFAULT_COMPLETED_HEADINGS = ("completed", "past", "done", "released", "previous")


@dataclass(frozen=True)
class PageRules:
    """How to read one source's pages.

    ``reference`` is "now" for the page: entries outside any status section
    are upcoming when their date is after it. For a past revision it is the
    revision's commit time.
    """

    zone: ZoneInfo
    reference: datetime
    upcoming_headings: tuple[re.Pattern[str], ...]
    completed_headings: tuple[re.Pattern[str], ...]

    @classmethod
    def build(
        cls,
        zone: ZoneInfo,
        reference: datetime,
        upcoming: Sequence[str] = DEFAULT_UPCOMING_HEADINGS,
        completed: Sequence[str] = DEFAULT_COMPLETED_HEADINGS,
    ) -> PageRules:
        """Rules from heading patterns (case-insensitive regular expressions)."""
        return cls(
            zone=zone,
            reference=reference,
            upcoming_headings=tuple(re.compile(p, re.IGNORECASE) for p in upcoming),
            completed_headings=tuple(re.compile(p, re.IGNORECASE) for p in completed),
        )


@dataclass(frozen=True)
class Columns:
    """Which column of a table plays which part."""

    date: int
    title: int
    details: int | None


@dataclass
class Extraction:
    """What the walk over one page has found so far."""

    entries: list[ParsedEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tables_seen: int = 0
    tables_read: int = 0
    first_table_line: int | None = None


def extract_entries(soup: BeautifulSoup, rules: PageRules) -> ParsedPage:
    """Return every dated entry in ``soup``, in page order.

    Raises ParseError when the page has no table that can be read: an
    empty result from a page we did not understand must never look like a
    page whose entries were all removed.
    """
    found = Extraction()
    headings: list[tuple[int, str]] = []
    lines = LineMap()
    for element in walk(soup):
        if element.name == LINE_MARKER:
            lines.anchor(element)
        elif element.name in HEADINGS:
            level = int(element.name[1])
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, inline_text(element)))
        elif element.find_parent("table") is None:
            read_table(element, headings, lines, rules, found)

    if found.tables_read == 0:
        raise ParseError(describe_unreadable(found), line=found.first_table_line)
    return ParsedPage(entries=tuple(found.entries), warnings=tuple(found.warnings))


def walk(soup: BeautifulSoup) -> Iterator[Tag]:
    """Yield headings, tables and line markers in document order."""
    for element in soup.descendants:
        if isinstance(element, Tag) and (
            element.name in HEADINGS or element.name in {"table", LINE_MARKER}
        ):
            yield element


class LineMap:
    """Page lines of elements, for rendered markdown and for HTML pages.

    Markdown blocks carry their line; elements of a raw HTML block in
    markdown are placed from the block's marker; on an HTML page the
    parser's own line is the page line.
    """

    def __init__(self) -> None:
        self.page_line = 0
        self.rendered_line = 0

    def anchor(self, marker: Tag) -> None:
        """Take the page line of a raw HTML block from its marker."""
        self.page_line = marked_line(marker) or 1
        self.rendered_line = marker.sourceline or 1

    def line_of(self, element: Tag) -> int:
        """The page line of ``element``."""
        marked = marked_line(element)
        if marked is not None:
            return marked
        rendered = element.sourceline or 1
        if self.page_line:
            return self.page_line + rendered - self.rendered_line
        return rendered


def marked_line(element: Tag) -> int | None:
    """The page line markdown rendering wrote on ``element``, if any."""
    marked = element.get(LINE_ATTRIBUTE)
    if isinstance(marked, str) and marked.isdigit():
        return int(marked)
    return None


def describe_unreadable(found: Extraction) -> str:
    """Say why no table could be read, and what to check."""
    if found.tables_seen == 0:
        return (
            "no table of dated changes found; the tracker reads tables with a "
            "date column (check the path and the format)"
        )
    reasons = "; ".join(found.warnings[:3])
    return (
        f"no table with a date column found ({reasons}); name the column "
        "'Date' or 'When', or check the path"
    )


def read_table(
    table: Tag,
    headings: list[tuple[int, str]],
    lines: LineMap,
    rules: PageRules,
    found: Extraction,
) -> None:
    """Add the entries of one table to ``found``."""
    line = lines.line_of(table)
    found.tables_seen += 1
    if found.first_table_line is None:
        found.first_table_line = line
    rows = [row for row in table.find_all("tr") if row.find_parent("table") is table]
    header, body = split_header(rows)
    columns = find_columns(header, body, rules)
    if columns is None:
        found.warnings.append(f"table at line {line} has no date column")
        log.warning("table skipped reason=no-date-column line=%d", line)
        return

    found.tables_read += 1
    section = headings[-1][1] if headings else ""
    status = section_status(headings, rules)
    for row in body:
        entry = read_row(
            row, columns, status, section, lines.line_of(row), rules, found
        )
        if entry is not None:
            found.entries.append(entry)


def split_header(rows: list[Tag]) -> tuple[list[str], list[Tag]]:
    """Return the header cells' texts and the body rows."""
    if not rows:
        return [], []
    first = rows[0]
    if first.find_parent("thead") is not None or first.find("th", recursive=False):
        return [inline_text(cell) for cell in cells_of(first)], rows[1:]
    return [], rows


def cells_of(row: Tag) -> list[Tag]:
    """The cells of ``row``."""
    return [cell for cell in row.find_all(["td", "th"], recursive=False)]


def find_columns(
    header: list[str], body: list[Tag], rules: PageRules
) -> Columns | None:
    """Decide which column holds the date, the title and the details."""
    date = first_match(header, DATE_HEADER, exclude=())
    if date is None:
        date = guess_date_column(body, rules)
    if date is None:
        return None
    width = max([len(header)] + [len(cells_of(row)) for row in body])
    title = first_match(header, TITLE_HEADER, exclude=(date,))
    if title is None:
        title = next((index for index in range(width) if index != date), None)
    if title is None:
        return None
    details = first_match(header, DETAILS_HEADER, exclude=(date, title))
    return Columns(date=date, title=title, details=details)


def first_match(
    header: list[str], pattern: re.Pattern[str], exclude: tuple[int, ...]
) -> int | None:
    """The first header cell matching ``pattern`` that is not excluded."""
    for index, text in enumerate(header):
        if index not in exclude and pattern.search(text):
            return index
    return None


def guess_date_column(body: list[Tag], rules: PageRules) -> int | None:
    """The column where most cells read as dates, if any column does."""
    counts: dict[int, int] = {}
    for row in body:
        for index, cell in enumerate(cells_of(row)):
            if parse_date(
                inline_text(cell), zone=rules.zone, reference=rules.reference
            ).date:
                counts[index] = counts.get(index, 0) + 1
    if not counts:
        return None
    best = max(counts, key=lambda index: counts[index])
    return best if counts[best] * 2 >= len(body) else None


def section_status(headings: list[tuple[int, str]], rules: PageRules) -> Status | None:
    """The status named by the nearest heading that names one."""
    for _, text in reversed(headings):
        if any(pattern.search(text) for pattern in rules.completed_headings):
            return Status.COMPLETED
        if any(pattern.search(text) for pattern in rules.upcoming_headings):
            return Status.UPCOMING
    return None


def read_row(
    row: Tag,
    columns: Columns,
    status: Status | None,
    section: str,
    line: int,
    rules: PageRules,
    found: Extraction,
) -> ParsedEntry | None:
    """Turn one table row into an entry, or None for a blank row."""
    cells = cells_of(row)
    if len(cells) <= max(columns.date, columns.title):
        if any(inline_text(cell) for cell in cells):
            found.warnings.append(f"row at line {line} has too few cells; skipped")
            log.warning("row skipped reason=too-few-cells line=%d", line)
        return None

    date_text = inline_text(cells[columns.date])
    title, details_html = split_title(cells[columns.title])
    if columns.details is not None and columns.details < len(cells):
        details_html = cells[columns.details]
    if not title:
        if not date_text:
            return None
        found.warnings.append(f"row at line {line} has a date but no title; skipped")
        log.warning("row skipped reason=no-title line=%d", line)
        return None

    when = parse_date(date_text, zone=rules.zone, reference=rules.reference)
    for warning in when.warnings:
        log.debug("date warning line=%d text=%r warning=%s", line, date_text, warning)
    return ParsedEntry(
        key=normalize_title(title) or f"line {line}",
        status=status or status_from_date(when, rules),
        title=title,
        date_text=date_text,
        date=when.date,
        due_at=when.due_at,
        precision=when.precision,
        end=when.end,
        details=html_to_text(details_html) if details_html is not None else "",
        details_markdown=to_markdown(details_html),
        links=collect_links(cells[columns.title], details_html),
        section=section,
        line=line,
        warnings=when.warnings,
    )


def status_from_date(when: ParsedDate, rules: PageRules) -> Status:
    """Outside a status section, a change is completed once its date passed."""
    if when.due_at is not None and when.due_at < rules.reference:
        return Status.COMPLETED
    return Status.UPCOMING


def split_title(cell: Tag) -> tuple[str, Tag | None]:
    """Split a change cell into its title and the rest (the details).

    Vendors write the title in bold at the start of the cell, maybe inside
    a link or a paragraph; else the first line is the title.
    """
    rest = copy.copy(cell)
    lead = leading_title_element(rest)
    if lead is not None:
        title = inline_text(lead)
        lead.decompose()
        strip_leading_breaks(rest)
        return title[:TITLE_LIMIT], rest
    text = html_to_text(rest)
    first, _, remainder = text.partition("\n")
    if not remainder:
        return first[:TITLE_LIMIT], None
    for br in rest.find_all("br"):
        # Everything before the first line break is the title.
        for previous in list(br.previous_siblings):
            previous.extract()
        br.decompose()
        break
    return first.strip()[:TITLE_LIMIT], rest


def leading_title_element(cell: Tag) -> Tag | None:
    """The bold (or linked bold) element that opens the cell, if any."""
    node: Tag = cell
    while True:
        first = first_meaningful_child(node)
        if not isinstance(first, Tag):
            return None
        if first.name in {"strong", "b"}:
            return first
        if first.name == "a" and isinstance(first_meaningful_child(first), Tag):
            inner = first_meaningful_child(first)
            if isinstance(inner, Tag) and inner.name in {"strong", "b"}:
                return first
        if first.name not in {"p", "div", "span"}:
            return None
        node = first


def first_meaningful_child(node: Tag) -> object:
    """The first child that is not blank text or a comment."""
    for child in node.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, str):
            if child.strip():
                return child
            continue
        return child
    return None


def strip_leading_breaks(node: Tag) -> None:
    """Drop the ``<br>`` tags and blank text that follow a removed title."""
    while True:
        first = first_meaningful_child(node)
        if isinstance(first, Tag) and first.name == "br":
            first.decompose()
            continue
        return


def to_markdown(details: Tag | None) -> str:
    """The details as markdown, whatever format the page was written in."""
    if details is None:
        return ""
    # Converted as a block: as a table cell, markdownify would add pipes and
    # fold line breaks.
    name, details.name = details.name, "div"
    try:
        return str(MARKDOWN.convert_soup(details)).strip()
    finally:
        details.name = name


def collect_links(*cells: Tag | None) -> tuple[str, ...]:
    """Every distinct link target in the cells, in order."""
    links: list[str] = []
    for cell in cells:
        if cell is None:
            continue
        for anchor in cell.find_all("a", href=True):
            href = str(anchor["href"])
            if href not in links:
                links.append(href)
    return tuple(links)
