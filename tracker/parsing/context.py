"""What the walk over one page knows at each point, and what it has found.

The walk meets headings, tables, paragraphs and list items in page order;
this state gives each of them its page line, its section and status, the
clock the page stated above it, and collects entries, warnings and the
findings ``tracker parse --explain`` shows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bs4 import Tag

from tracker.parsing.dates import PageClock, parse_date
from tracker.parsing.markdown import LINE_ATTRIBUTE
from tracker.parsing.model import Finding, ParsedDate, ParsedEntry, Status
from tracker.parsing.rules import PageRules

log = logging.getLogger(__name__)


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


@dataclass
class Extraction:
    """The state of the walk over one page and what it has found so far.

    ``entries`` pairs each entry with the shape it came from (see
    ``rules.SHAPES``), in page order.
    """

    rules: PageRules
    lines: LineMap = field(default_factory=LineMap)
    headings: list[tuple[int, str]] = field(default_factory=list)
    clock: PageClock | None = None
    entries: list[tuple[str, ParsedEntry]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    tables_seen: int = 0
    tables_read: int = 0
    first_table_line: int | None = None

    def enter_heading(self, level: int, text: str, line: int) -> None:
        """Close the sections a heading of ``level`` ends and open its own."""
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, text))
        status = heading_status(text, self.rules)
        if status is not None:
            self.note(line, "section", f"{text!r}: {status.value} changes")

    def section(self) -> str:
        """The text of the nearest heading above, or ""."""
        return self.headings[-1][1] if self.headings else ""

    def status(self) -> Status | None:
        """The status named by the nearest heading that names one."""
        for _, text in reversed(self.headings):
            status = heading_status(text, self.rules)
            if status is not None:
                return status
        return None

    def label(self) -> str:
        """The nearest heading above that names no status: what a table is about."""
        for _, text in reversed(self.headings):
            if heading_status(text, self.rules) is None:
                return text
        return ""

    def is_in_scope(self) -> bool:
        """Tell whether the source's section hints let the walk read here."""
        patterns = self.rules.hints.sections
        if not patterns:
            return True
        return any(
            pattern.search(text) for _, text in self.headings for pattern in patterns
        )

    def read_date(self, text: str) -> ParsedDate:
        """Read a date as this point of the page writes it."""
        return parse_date(
            text, zone=self.rules.zone, reference=self.rules.reference, clock=self.clock
        )

    def status_of(self, when: ParsedDate) -> Status:
        """The section's status, else completed once the date passed."""
        status = self.status()
        if status is not None:
            return status
        if when.due_at is not None and when.due_at < self.rules.reference:
            return Status.COMPLETED
        return Status.UPCOMING

    def add(self, shape: str, entry: ParsedEntry) -> None:
        """Keep an entry found in ``shape``."""
        self.entries.append((shape, entry))

    def note(self, line: int | None, kind: str, summary: str) -> None:
        """Record what was recognised, for ``tracker parse --explain``."""
        self.findings.append(Finding(line, kind, summary))

    def skip(self, line: int, reason: str, message: str) -> None:
        """Warn that something on the page was left out, and why."""
        self.warnings.append(message)
        self.note(line, "skipped", message)
        log.warning("page part skipped reason=%s line=%d", reason, line)


def heading_status(text: str, rules: PageRules) -> Status | None:
    """The status a heading's text names, if any; completed wins a tie."""
    if any(pattern.search(text) for pattern in rules.completed_headings):
        return Status.COMPLETED
    if any(pattern.search(text) for pattern in rules.upcoming_headings):
        return Status.UPCOMING
    return None
