"""Page text -> entries. ``parse_page`` is the one entry point."""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)

FORMATS = ("markdown", "html")
EXTENSIONS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".mdown": "markdown",
    ".html": "html",
    ".htm": "html",
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
        soup = parse_markdown(text) if page_format == "markdown" else make_soup(text)
        return extract_entries(soup, rules)
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
