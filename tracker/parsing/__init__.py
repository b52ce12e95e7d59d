"""Page text -> entries. ``parse_page`` is the one entry point."""

from __future__ import annotations

import logging
import re
from pathlib import PurePosixPath

from bs4 import BeautifulSoup

from tracker.errors import ParseError
from tracker.parsing.extract import extract_entries
from tracker.parsing.feed import parse_feed
from tracker.parsing.markdown import parse_markdown
from tracker.parsing.model import ParsedPage
from tracker.parsing.rst import parse_rst
from tracker.parsing.rules import (
    DEFAULT_COMPLETED_HEADINGS,
    DEFAULT_UPCOMING_HEADINGS,
    SHAPES,
    PageHints,
    PageRules,
)
from tracker.parsing.text import make_soup

__all__ = [
    "DEFAULT_COMPLETED_HEADINGS",
    "DEFAULT_UPCOMING_HEADINGS",
    "FORMATS",
    "SHAPES",
    "PageHints",
    "PageRules",
    "detect_format",
    "parse_page",
]

log = logging.getLogger(__name__)

FORMATS = ("markdown", "html", "rst", "feed")
EXTENSIONS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".mdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".rst": "rst",
    ".rest": "rst",
}
# Real change pages are tens of kilobytes; this keeps a wrong path (a data
# dump, a generated file) from costing minutes and gigabytes.
MAX_PAGE_CHARACTERS = 8_000_000
CONFLICT_MARKER = re.compile(r"^(<{7}|>{7})( |$)", re.M)


def detect_format(path: str, override: str = "auto") -> str:
    """The page format: ``override`` unless "auto", else from the extension."""
    if override != "auto":
        return override
    return EXTENSIONS.get(PurePosixPath(path).suffix.lower(), "markdown")


def render(text: str, page_format: str) -> BeautifulSoup:
    """Render a markdown, reStructuredText or HTML page to an HTML tree."""
    if page_format == "markdown":
        return parse_markdown(text)
    if page_format == "rst":
        return parse_rst(text)
    return make_soup(text)


def parse_page(text: str, *, page_format: str, rules: PageRules) -> ParsedPage:
    """Return the entries of one page.

    Raises ParseError (with the page line where known) for a page that is
    not text, that holds unresolved merge conflict markers, or that has no
    dated changes in any shape it can read (tables, dated headings, dated
    items): a page misread must never look like one whose changes were all
    removed.
    """
    # Editors on Windows start files with a byte-order mark; it is no text.
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise ParseError(
            "page is binary, not text", line=text[: text.index("\x00")].count("\n") + 1
        )
    conflict = CONFLICT_MARKER.search(text)
    if conflict:
        line = text[: conflict.start()].count("\n") + 1
        raise ParseError("page holds a merge conflict marker", line=line)

    if len(text) > MAX_PAGE_CHARACTERS:
        raise ParseError(
            f"page has {len(text):,} characters, more than the "
            f"{MAX_PAGE_CHARACTERS:,} a change page can sensibly hold; check the path"
        )
    if page_format not in FORMATS:
        raise ParseError(
            f"unknown page format {page_format!r}; use one of {', '.join(FORMATS)}"
        )

    try:
        if page_format == "feed":
            return parse_feed(text, rules)
        return extract_entries(render(text, page_format), rules)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("page nests its elements too deeply to be read") from None
    except Exception as error:
        # The page is untrusted input: whatever it does to the libraries
        # below, it must end as this page's error, not the whole run's.
        log.debug("page reading failed", exc_info=True)
        raise ParseError(
            f"unexpected {type(error).__name__} while reading the page ({error}); "
            "please report it with the page"
        ) from None
