"""Page text -> entries. ``parse_page`` is the one entry point."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from tracker.errors import ParseError
from tracker.parsing.markdown import parse_markdown
from tracker.parsing.model import ParsedPage
from tracker.parsing.tables import (
    DEFAULT_COMPLETED_HEADINGS,
    DEFAULT_UPCOMING_HEADINGS,
    PageRules,
    extract_entries,
)
from tracker.parsing.text import make_soup

__all__ = [
    "DEFAULT_COMPLETED_HEADINGS",
    "DEFAULT_UPCOMING_HEADINGS",
    "FORMATS",
    "PageRules",
    "detect_format",
    "parse_page",
]

FORMATS = ("markdown", "html")
EXTENSIONS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".mdown": "markdown",
    ".html": "html",
    ".htm": "html",
}
CONFLICT_MARKER = re.compile(r"^(<{7}|>{7})( |$)", re.M)


def detect_format(path: str, override: str = "auto") -> str:
    """The page format: ``override`` unless "auto", else from the extension."""
    if override != "auto":
        return override
    return EXTENSIONS.get(PurePosixPath(path).suffix.lower(), "markdown")


def parse_page(text: str, *, page_format: str, rules: PageRules) -> ParsedPage:
    """Return the entries of one page.

    Raises ParseError (with the page line where known) for a page that is
    not text, that holds unresolved merge conflict markers, or that has no
    table of dated changes.
    """
    if "\x00" in text:
        raise ParseError(
            "page is binary, not text", line=text[: text.index("\x00")].count("\n") + 1
        )
    conflict = CONFLICT_MARKER.search(text)
    if conflict:
        line = text[: conflict.start()].count("\n") + 1
        raise ParseError("page holds a merge conflict marker", line=line)

    if page_format == "markdown":
        soup = parse_markdown(text)
    elif page_format == "html":
        soup = make_soup(text)
    else:
        raise ParseError(
            f"unknown page format {page_format!r}; use one of {', '.join(FORMATS)}"
        )
    return extract_entries(soup, rules)
