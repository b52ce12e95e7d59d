"""Walk a rendered page in order and keep the entries of its main shape.

A page holds dated changes in tables, under dated headings, or in dated
list items and sentences. The walk collects all three; unless the source's
``shapes`` hint says which to read, the first shape the page has wins, in
that order: a page with a table of dates is read from its tables (its
prose only explains them), a changelog from its headings, and only a page
with neither from its items and sentences.
"""

from __future__ import annotations

from collections.abc import Iterator

from bs4 import BeautifulSoup, Tag

from tracker.errors import ParseError
from tracker.parsing.context import Extraction
from tracker.parsing.markdown import LINE_MARKER
from tracker.parsing.model import ParsedPage
from tracker.parsing.prose import (
    DatedHeading,
    close_heading,
    open_heading,
    read_item,
    read_page_clock,
)
from tracker.parsing.rules import SHAPES, PageRules
from tracker.parsing.tables import read_table
from tracker.parsing.text import inline_text

HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
BLOCKS = frozenset({"table", "p", "li"})


def extract_entries(soup: BeautifulSoup, rules: PageRules) -> ParsedPage:
    """Return every dated entry in ``soup``, in page order.

    Raises ParseError when the page has no table, heading or item with a
    date that can be read: an empty result from a page we did not
    understand must never look like a page whose entries were all removed.
    """
    found = Extraction(rules)
    open_dated: DatedHeading | None = None
    for element in walk(soup):
        if element.name == LINE_MARKER:
            found.lines.anchor(element)
            continue
        if element.name in HEADINGS:
            level = int(element.name[1])
            if open_dated is not None and level <= open_dated.level:
                close_heading(open_dated, found)
                open_dated = None
            line = found.lines.line_of(element)
            found.enter_heading(level, inline_text(element), line)
            if open_dated is None and found.is_in_scope():
                open_dated = open_heading(element, level, line, found)
            continue
        if not found.is_in_scope():
            continue
        if element.name == "table":
            read_table(element, found)
        elif element.name == "p" and read_page_clock(element, found):
            continue
        elif open_dated is not None:
            open_dated.blocks.append(element)
        else:
            read_item(element, found)
    if open_dated is not None:
        close_heading(open_dated, found)
    return choose_shapes(found)


def walk(soup: BeautifulSoup) -> Iterator[Tag]:
    """Yield headings, tables, paragraphs, list items and line markers in order.

    What lies inside a table is the table's; a paragraph or list inside a
    list item is the item's.
    """
    for element in soup.descendants:
        if not isinstance(element, Tag):
            continue
        if element.name in HEADINGS or element.name == LINE_MARKER:
            yield element
            continue
        # A table inside a list item is still a table of its own.
        containers = ["table"] if element.name == "table" else ["table", "li"]
        if element.name in BLOCKS and element.find_parent(containers) is None:
            yield element


def choose_shapes(found: Extraction) -> ParsedPage:
    """Keep the entries of the shapes the page is read in, or raise ParseError."""
    hinted = found.rules.hints.shapes
    present = {shape for shape, _ in found.entries}
    if found.tables_read:
        present.add("tables")
    if hinted:
        shapes = tuple(hinted)
        why = "named by the shapes hint"
    else:
        shapes = tuple(shape for shape in SHAPES if shape in present)[:1]
        why = "the first of tables, headings, items the page has"
    if not shapes or not (present & set(shapes)):
        raise ParseError(describe_unreadable(found), line=found.first_table_line)

    ignored = sorted(present - set(shapes))
    summary = f"read {', '.join(shapes)} ({why})"
    if ignored:
        summary += (
            f"; left out dated {', '.join(ignored)}: set the shapes hint to read them"
        )
    found.note(None, "shape", summary)
    entries = tuple(entry for shape, entry in found.entries if shape in shapes)
    return ParsedPage(entries, tuple(found.warnings), tuple(found.findings))


def describe_unreadable(found: Extraction) -> str:
    """Say why nothing dated could be read, and what to check."""
    if found.tables_seen == 0:
        return (
            "no table of dated changes found; the tracker reads tables with a "
            "date column, dated headings and dated list items or sentences "
            "(check the path and the format)"
        )
    reasons = "; ".join(found.warnings[:3])
    return (
        f"no table with a date column found ({reasons}); name the column "
        "'Date' or 'When', or check the path"
    )
