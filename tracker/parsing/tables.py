"""Find the dated entries in tables: columns, rows and cells.

Markdown, reStructuredText and HTML pages reach this module rendered to
HTML, so a pipe table and a hand-written ``<table>`` are read alike. A
column holds dates when its header says so ("Date", "When", "Deadline") or
when most of its cells read as dates; the source's ``date_columns`` hint
overrides both.

A table with one date column gives one entry per row, titled from its
change column. A table with several ("Release | Active support until |
Security fixes until | End of life") gives one entry per dated cell, titled
"<key cell>: <column header>" ("v4 LTS: End of life"), whose ``row_key``
groups the entries of one row. The key column is the one the ``key_column``
hint names, else the first whose header names a change or a release, else
the first column without dates.

In such a table, cells that say the date is not known yet ("TBD", "TBA",
"Soon") give an undated entry, so that the day the vendor fills it in is a
reschedule; cells that say the column does not apply ("-", "\u2013", "\u2014",
"N/A", empty) give no entry. In a one-date table every row is an entry,
undated when its date cell says so.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from bs4 import Tag
from bs4.element import Comment
from markdownify import MarkdownConverter

from tracker.parsing.context import Extraction
from tracker.parsing.dates import parse_date
from tracker.parsing.model import ParsedDate, ParsedEntry, Status
from tracker.parsing.rules import PageRules as PageRules
from tracker.parsing.text import html_to_text, inline_text, normalize_title

DATE_HEADER = re.compile(r"\b(date|dates|when|effective|deadline|eta|timeline)\b", re.I)
TITLE_HEADER = re.compile(
    r"\b(change|changes|title|feature|item|name|what|summary|deprecation|update)\b",
    re.I,
)
# Headers that name what a row of a several-date table is about.
KEY_HEADER = re.compile(
    r"\b(release|version|api|endpoint|product|sdk|service|model|component|runtime"
    r"|platform|branch|series)\b",
    re.I,
)
DETAILS_HEADER = re.compile(
    r"\b(details?|notes?|description|impact|more|info|action|comments?)\b", re.I
)
# Cells saying that a column does not apply to a row: no entry at all.
NOT_APPLICABLE = frozenset({"", "-", "\u2013", "\u2014", "n/a", "na", "none"})
# A row title longer than this is a paragraph, not a title: keep its start.
TITLE_LIMIT = 200
MARKDOWN = MarkdownConverter(heading_style="ATX", bullets="-")


@dataclass(frozen=True)
class Layout:
    """Which column of a table plays which part, and why (for --explain)."""

    dates: tuple[int, ...]
    title: int
    details: int | None
    reasons: tuple[str, ...]
    per_cell: bool


def read_table(table: Tag, found: Extraction) -> None:
    """Add the entries of one table to ``found``."""
    line = found.lines.line_of(table)
    found.tables_seen += 1
    if found.first_table_line is None:
        found.first_table_line = line
    rows = [row for row in table.find_all("tr") if row.find_parent("table") is table]
    header, body = split_header(rows)
    if not is_selected(header, found):
        found.note(
            line,
            "skipped",
            "table left out: the tables hint matches neither its header nor its heading",
        )
        return
    layout = find_layout(header, body, found.rules)
    if layout is None:
        found.skip(line, "no-date-column", f"table at line {line} has no date column")
        return

    found.tables_read += 1
    found.note(line, "table", describe_layout(header, layout, found))
    for row in body:
        row_line = found.lines.line_of(row)
        if not layout.per_cell:
            entry = read_row(row, layout, row_line, found)
            if entry is not None:
                found.add("tables", entry)
        else:
            for entry in read_dated_cells(row, header, layout, row_line, found):
                found.add("tables", entry)


def is_selected(header: list[str], found: Extraction) -> bool:
    """Tell whether the source's tables hint keeps this table."""
    patterns = found.rules.hints.tables
    if not patterns:
        return True
    texts = (" | ".join(header), found.section(), found.label())
    return any(pattern.search(text) for pattern in patterns for text in texts)


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


def find_layout(header: list[str], body: list[Tag], rules: PageRules) -> Layout | None:
    """Decide which columns hold dates, the title (or row key) and the details."""
    width = max([len(header)] + [len(cells_of(row)) for row in body])
    dates, reasons = find_date_columns(header, body, width, rules)
    if not dates:
        return None
    title, why_title = find_title_column(header, width, dates, rules)
    if title is None:
        return None
    details = first_match(header, DETAILS_HEADER, exclude=(*dates, title))
    return Layout(
        tuple(dates), title, details, (*reasons, why_title), is_per_cell(header, dates)
    )


def is_per_cell(header: list[str], dates: list[int]) -> bool:
    """Tell whether each dated cell is its own entry, titled with its column.

    So it is with several date columns, and with one whose header names a
    milestone ("End of life") rather than just a date ("Date", "When"): the
    day a second column is added or dropped, the other cells keep their
    titles and keys.
    """
    if len(dates) > 1:
        return True
    text = header[dates[0]] if dates[0] < len(header) else ""
    return bool(text) and DATE_HEADER.search(text) is None


# TODO: a date column and a separate time column are read as two entries;
# no sample page splits one moment across columns yet.
def find_date_columns(
    header: list[str], body: list[Tag], width: int, rules: PageRules
) -> tuple[list[int], list[str]]:
    """The date columns and why each was taken."""
    hinted = rules.hints.date_columns
    if hinted:
        dates = [i for i, text in enumerate(header) if matches_any(text, hinted)]
        return dates, ["date columns named by the date_columns hint"]

    named = [i for i, text in enumerate(header) if DATE_HEADER.search(text)]
    reasons = [f"header {header[i]!r} names a date" for i in named]
    for index in range(width):
        text = header[index] if index < len(header) else ""
        if index in named or DETAILS_HEADER.search(text):
            continue
        if rules.hints.key_column is not None and rules.hints.key_column.search(text):
            continue
        if reads_as_dates([cell_text(row, index) for row in body], rules):
            named.append(index)
            reasons.append(
                f"most cells of {text or f'column {index + 1}'!r} read as dates"
            )
    return sorted(named), reasons


def matches_any(text: str, patterns: tuple[re.Pattern[str], ...]) -> bool:
    """Tell whether one of ``patterns`` finds a match in ``text``."""
    return any(pattern.search(text) for pattern in patterns)


def cell_text(row: Tag, index: int) -> str:
    """The text of the cell of ``row`` in column ``index``, or ""."""
    cells = cells_of(row)
    return inline_text(cells[index]) if index < len(cells) else ""


# Markdown's ~~struck~~ text and HTML's <s>, <del> and <strike>.
STRUCK = ("s", "del", "strike")


def date_text(cell: Tag) -> str:
    """A date cell's text without what it strikes out: "~~May 6~~ June 1"
    moves a change to June 1."""
    if cell.find(STRUCK) is None:
        return inline_text(cell)
    kept = copy.copy(cell)
    for struck in kept.find_all(STRUCK):
        struck.decompose()
    return inline_text(kept)


def reads_as_dates(texts: list[str], rules: PageRules) -> bool:
    """Tell whether a column's cells are dates: one at least, and mostly dates.

    Cells saying there is no date yet ("TBD", "-") count for the column but
    cannot make it a date column on their own.
    """
    dated = undated = 0
    for text in texts:
        when = parse_date(text, zone=rules.zone, reference=rules.reference)
        if when.date is not None:
            dated += 1
        elif text and not when.warnings:
            undated += 1
    return dated > 0 and (dated + undated) * 2 >= len(texts)


def find_title_column(
    header: list[str], width: int, dates: list[int], rules: PageRules
) -> tuple[int | None, str]:
    """The column naming each row, and why it was taken."""
    hint = rules.hints.key_column
    if hint is not None:
        for hinted, text in enumerate(header):
            if hinted not in dates and hint.search(text):
                return hinted, f"key column {text!r} named by the key_column hint"
    key = first_match(header, KEY_HEADER, exclude=tuple(dates))
    title = first_match(header, TITLE_HEADER, exclude=tuple(dates))
    # A row of a one-date table is a change; a row of a per-cell table is a
    # release or an API, whose cells are the changes.
    preferred = (key, title) if is_per_cell(header, dates) else (title, key)
    index = next((i for i in preferred if i is not None), None)
    if index is not None:
        return index, f"key column {header[index]!r}: its header names what a row is"
    index = next((i for i in range(width) if i not in dates), None)
    if index is None:
        return None, ""
    return index, f"key column {index + 1}: the first column without dates"


def first_match(
    header: list[str], pattern: re.Pattern[str], exclude: tuple[int, ...]
) -> int | None:
    """The first header cell matching ``pattern`` that is not excluded."""
    for index, text in enumerate(header):
        if index not in exclude and pattern.search(text):
            return index
    return None


def describe_layout(header: list[str], layout: Layout, found: Extraction) -> str:
    """Say how a table is read, for ``tracker parse --explain``."""
    columns = " | ".join(header) if header else "(no header row)"
    status = found.status()
    where = (
        f"status {status.value} from its section"
        if status
        else ("status from each date (no status heading above)")
    )
    return f"columns [{columns}]; " + "; ".join((*layout.reasons, where))


def read_row(
    row: Tag, layout: Layout, line: int, found: Extraction
) -> ParsedEntry | None:
    """Turn one row of a one-date table into an entry, or None for a blank row."""
    cells = cells_of(row)
    date_column = layout.dates[0]
    if len(cells) <= max(date_column, layout.title):
        if any(inline_text(cell) for cell in cells):
            found.skip(
                line, "too-few-cells", f"row at line {line} has too few cells; skipped"
            )
        return None

    written = date_text(cells[date_column])
    title, details_html = split_title(cells[layout.title])
    if layout.details is not None and layout.details < len(cells):
        details_html = cells[layout.details]
    if not title:
        if written:
            found.skip(
                line, "no-title", f"row at line {line} has a date but no title; skipped"
            )
        return None

    when = found.read_date(written)
    return make_entry(
        found,
        key=normalize_title(title) or f"line {line}",
        title=title,
        when=when,
        details_html=details_html,
        links=collect_links(cells[layout.title], details_html),
        line=line,
    )


def read_dated_cells(
    row: Tag, header: list[str], layout: Layout, line: int, found: Extraction
) -> list[ParsedEntry]:
    """Turn one row of a several-date table into one entry per dated cell."""
    cells = cells_of(row)
    if len(cells) <= layout.title:
        return []
    name, _ = split_title(cells[layout.title])
    if not name:
        if any(cell_text(row, index) for index in layout.dates):
            found.skip(
                line, "no-title", f"row at line {line} has dates but no key; skipped"
            )
        return []

    row_key = make_row_key(found.label(), name)
    details_html = (
        cells[layout.details]
        if layout.details is not None and layout.details < len(cells)
        else None
    )
    entries = []
    for index in layout.dates:
        text = date_text(cells[index]) if index < len(cells) else ""
        if text.strip(" .").lower() in NOT_APPLICABLE:
            continue
        column = (
            header[index]
            if index < len(header) and header[index]
            else f"column {index + 1}"
        )
        entries.append(
            make_entry(
                found,
                key=f"{row_key} {normalize_title(column)}".strip(),
                title=f"{name}: {column}",
                when=found.read_date(text),
                details_html=details_html,
                links=collect_links(cells[layout.title], details_html),
                line=line,
                row_key=row_key,
            )
        )
    return entries


def status_from_date(when: ParsedDate, rules: PageRules) -> Status:
    """Outside a status section, a change is completed once its date passed."""
    if when.due_at is not None and when.due_at < rules.reference:
        return Status.COMPLETED
    return Status.UPCOMING


def make_row_key(label: str, name: str) -> str:
    """The row key of a row named ``name`` in a table under heading ``label``."""
    row = normalize_title(name)
    heading = normalize_title(label)
    return f"{heading} / {row}" if heading else row


def make_entry(
    found: Extraction,
    *,
    key: str,
    title: str,
    when: ParsedDate,
    details_html: Tag | None,
    links: tuple[str, ...],
    line: int | None,
    row_key: str | None = None,
) -> ParsedEntry:
    """Build an entry at the current point of the page."""
    return ParsedEntry(
        key=key,
        status=found.status_of(when),
        title=title,
        date_text=when.text,
        date=when.date,
        due_at=when.due_at,
        precision=when.precision,
        end=when.end,
        details=html_to_text(details_html) if details_html is not None else "",
        details_markdown=to_markdown(details_html),
        links=links,
        section=found.section(),
        line=line,
        row_key=row_key,
        warnings=when.warnings,
    )


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
