"""Read RSS and Atom feeds whose items announce dated changes.

Each item becomes one entry: its title, its content (else its summary) as
details, its web links, and the first date written in its title, else in its
summary, else in its content, found as dates are found in a page's
sentences. An item whose text names no date stays undated and upcoming; as
outside a page's status sections, a dated item is completed once its date
has passed.

An item's published and updated times are not used, not as its date and not
in its details: they say when the vendor announced or last touched the
item, not when the change happens, and "updated" moves each time the vendor
edits the post, which in the details would make every re-publication an
"edited" event. The item's link leads to the announcement and its time.

Identity: an item's key is a digest of its id (RSS ``guid``, Atom ``id``),
else of its link, so an item whose title is edited stays the same entry and
re-ordered items are matched wherever they are. A digest rather than the id
itself: the diff pairs leftover entries by how alike their keys are, and
ids such as ".../announcements/101" and ".../announcements/106" are nearly
alike, while two digests never are. An item with neither id nor link is
known by its title, as a table row is. ``row_key`` stays None: it groups
the cells of one table row, and an item is a single entry.

The feed is untrusted text. Given a str, feedparser fetches it when it looks
like a URL and opens it when it names a file, and it tries bytes as a file
name too; so it only ever gets a stream. It loads no DTD or external entity.
"""

from __future__ import annotations

import hashlib
import html
import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import feedparser
from bs4 import BeautifulSoup

from tracker.errors import ParseError
from tracker.parsing.context import Extraction
from tracker.parsing.dates import find_dates
from tracker.parsing.model import ParsedDate, ParsedEntry, ParsedPage, Precision
from tracker.parsing.rules import PageRules
from tracker.parsing.tables import TITLE_LIMIT, collect_links, make_entry
from tracker.parsing.text import (
    html_to_text,
    inline_text,
    make_soup,
    normalize_title,
    strip_control,
)

log = logging.getLogger(__name__)

# The text reaches us decoded, so the encoding its XML declaration names no
# longer holds; an application/xml charset outranks the declaration (RFC 3023).
DECODED_TEXT = {"content-type": "application/xml; charset=utf-8"}
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# "self", "edit" and "enclosure" links point at the feed itself or at files.
LINK_RELATIONS = frozenset({"alternate", "related"})
WEB_SCHEMES = ("https://", "http://")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
FIRST_ELEMENT = re.compile(r"<([A-Za-z_][\w:.-]*)")
LAST_CLOSING_TAG = re.compile(r"</([A-Za-z_][\w:.-]*)\s*>\s*\Z")
# A feed that is cut short is told by its last few hundred characters.
TAIL_CHARACTERS = 2_000


def parse_feed(text: str, rules: PageRules) -> ParsedPage:
    """Return one entry per item of an RSS or Atom feed, in feed order.

    Raises ParseError when the text is not a feed that could be read: an
    empty body, an HTML page or other document, a malformed one with no
    item, a feed cut short. A feed that lists no item is an empty page.
    """
    if not text.strip():
        raise ParseError("feed is empty; check the feed's URL")
    result = feedparser.parse(
        io.BytesIO(text.encode("utf-8", errors="replace")),
        response_headers=DECODED_TEXT,
        sanitize_html=True,
    )
    check_readable(text, result)

    found = Extraction(rules)
    if result.get("bozo"):
        problem = describe_problem(result)
        found.warnings.append(
            f"feed is not well-formed XML ({problem}); read leniently"
        )
        log.warning("feed read leniently reason=%r", problem)
    entries: list[ParsedEntry] = []
    for position, item in enumerate(result.get("entries") or [], start=1):
        entry = read_item(item, found)
        if entry is None:
            found.warnings.append(f"feed item {position} has no title or text; skipped")
            found.note(None, "skipped", f"feed item {position}: no title or text")
            log.warning("feed item skipped reason=empty position=%d", position)
        else:
            entries.append(entry)
            found.note(
                None, "item", f"feed item {entry.title[:60]!r}: {entry.date_text!r}"
            )
    return ParsedPage(tuple(entries), tuple(found.warnings), tuple(found.findings))


def check_readable(text: str, result: Mapping[str, Any]) -> None:
    """Raise ParseError unless feedparser found a whole feed in ``text``."""
    has_items = bool(result.get("entries"))
    if not result.get("version") and not has_items:
        raise ParseError(
            f"not an RSS or Atom feed ({describe_document(text)}); check that "
            "the source's URL serves the feed, not a web page"
        )
    if not result.get("bozo"):
        return
    if not has_items:
        raise ParseError(
            f"feed is not well-formed XML and no item could be read "
            f"({describe_problem(result)}); check the feed"
        )
    # A malformed feed is read leniently, but one cut off part-way would
    # report the items it lost as removed.
    root = find_root(text)
    closing = LAST_CLOSING_TAG.search(COMMENT.sub("", text[-TAIL_CHARACTERS:]))
    if root is None or closing is None or closing.group(1) != root:
        raise ParseError(
            f"feed ends before its closing </{root}> tag, so it looks cut short; "
            "check the feed"
        )


def find_root(text: str) -> str | None:
    """The name of the document's first element, if it has one."""
    match = FIRST_ELEMENT.search(COMMENT.sub("", text))
    return match.group(1)[:40] if match else None


def describe_document(text: str) -> str:
    """Say what a document that is not a feed looks like, on one line."""
    root = find_root(text)
    if root is None:
        return "it holds no XML element"
    if root.lower() == "html":
        return "it is an HTML page"
    return f"its root element is <{root}>"


def describe_problem(result: Mapping[str, Any]) -> str:
    """feedparser's reason for calling a document malformed, on one line."""
    problem = " ".join(strip_control(str(result.get("bozo_exception"))).split())
    return problem[:200]


def read_item(item: Mapping[str, Any], found: Extraction) -> ParsedEntry | None:
    """Turn one feed item into an entry, or None when it holds no text."""
    summary = make_soup(as_html(item.get("summary_detail"), item.get("summary")))
    content = make_soup(as_html(*first_content(item)))
    details = content if content.get_text(strip=True) else summary
    details_text = html_to_text(details)
    title = inline_text(make_soup(as_html(item.get("title_detail"), item.get("title"))))
    title = (title or details_text.partition("\n")[0])[:TITLE_LIMIT]
    if not title:
        return None

    texts = dict.fromkeys([title, html_to_text(summary), html_to_text(content)])
    when = find_first_date(list(texts), found.rules)
    # A feed item has no line on a page.
    return make_entry(
        found,
        key=identify(item, title),
        title=title,
        when=when,
        details_html=details,
        links=collect_web_links(item, details),
        line=None,
    )


def as_html(detail: object, value: object) -> str:
    """An item's text as HTML, whether the feed gives it as HTML or as plain text."""
    if not isinstance(value, str):
        return ""
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    if kind in HTML_TYPES:
        return value
    return html.escape(value).replace("\n", "<br/>")


def first_content(item: Mapping[str, Any]) -> tuple[object, object]:
    """The first content block of an item (Atom content, RSS content:encoded)."""
    for block in item.get("content") or []:
        if isinstance(block, Mapping) and block.get("value"):
            return block, block["value"]
    return None, None


def find_first_date(texts: Sequence[str], rules: PageRules) -> ParsedDate:
    """The first date that reads in ``texts``, searched in order; else undated.

    Dates found before it that do not read ("February 30, 2031") are
    passed over, but their warnings are kept.
    """
    passed: list[str] = []
    for text in texts:
        for line in text.splitlines():
            for date in find_dates(line, zone=rules.zone, reference=rules.reference):
                if date.parsed.date is not None:
                    warnings = (*passed, *date.parsed.warnings)
                    return replace(date.parsed, warnings=warnings)
                passed.extend(date.parsed.warnings)
    return ParsedDate("", None, None, Precision.UNKNOWN, warnings=tuple(passed))


def identify(item: Mapping[str, Any], title: str) -> str:
    """The entry's key: a digest of the item's id, else of its link, else its title."""
    for field in ("id", "link"):
        value = item.get(field)
        if isinstance(value, str) and value.strip():
            return hashlib.sha256(value.strip().encode("utf-8")).hexdigest()
    return normalize_title(title)


def collect_web_links(
    item: Mapping[str, Any], details: BeautifulSoup
) -> tuple[str, ...]:
    """The item's own web links, then those in its details, each once.

    Only http(s) links are kept: a feed may carry ``javascript:`` links, and
    relative ones have no page to resolve against.
    """
    found = [
        str(link.get("href"))
        for link in item.get("links") or []
        if isinstance(link, Mapping) and link.get("rel", "alternate") in LINK_RELATIONS
    ]
    found.extend(collect_links(details))
    web = (
        strip_control(link) for link in found if link.lower().startswith(WEB_SCHEMES)
    )
    return tuple(dict.fromkeys(web))
