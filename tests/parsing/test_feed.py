"""RSS and Atom feeds of announced changes, read into entries."""

from __future__ import annotations

import html
import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA
from tracker.diff import EventKind, Known, compare
from tracker.errors import ParseError
from tracker.parsing import FORMATS, PageRules, parse_page
from tracker.parsing.feed import parse_feed
from tracker.parsing.model import ParsedEntry

FEEDS = DATA / "feeds"
CASES = sorted(FEEDS.glob("*.xml"))
EMPTY_RSS = '<?xml version="1.0"?><rss version="2.0"><channel><title>Status</title></channel></rss>'
EMPTY_ATOM = (
    '<feed xmlns="http://www.w3.org/2005/Atom"><title>API</title><id>urn:x</id>'
    "<updated>2030-05-01T00:00:00Z</updated></feed>"
)


def rss(*items: str) -> str:
    """An RSS 2.0 feed holding ``items``."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Status</title>{''.join(items)}</channel></rss>\n"
    )


def item(
    title: str | None,
    description: str = "",
    guid: str | None = None,
    link: str | None = None,
) -> str:
    """One RSS item; the description is HTML, escaped as feeds carry it."""
    parts = [f"<title>{html.escape(title)}</title>" if title is not None else ""]
    if guid is not None:
        parts.append(f"<guid>{html.escape(guid)}</guid>")
    if link is not None:
        parts.append(f"<link>{html.escape(link)}</link>")
    if description:
        parts.append(f"<description>{html.escape(description)}</description>")
    return f"<item>{''.join(parts)}</item>"


def as_written(entry: ParsedEntry) -> dict[str, Any]:
    """An entry in the form the expectation files write it."""
    return {
        "title": entry.title,
        "status": entry.status.value,
        "date_text": entry.date_text,
        "date": entry.date.isoformat() if entry.date else None,
        "due_at": entry.due_at.isoformat().replace("+00:00", "Z")
        if entry.due_at
        else None,
        "precision": entry.precision.value,
        "end": entry.end.isoformat() if entry.end else None,
        "details": entry.details,
        "details_markdown": entry.details_markdown,
        "links": list(entry.links),
        "warnings": list(entry.warnings),
    }


@pytest.mark.parametrize("feed", CASES, ids=[path.name for path in CASES])
def test_sample_feed_gives_expected_entries(feed: Path, rules: PageRules) -> None:
    expected = json.loads(
        feed.with_name(f"{feed.stem}.expected.json").read_text(encoding="utf-8")
    )

    page = parse_feed(feed.read_text(encoding="utf-8"), rules)

    assert [as_written(entry) for entry in page.entries] == expected
    assert all(entry.row_key is None for entry in page.entries)
    assert page.warnings == ()


def test_feed_format_is_read_by_parse_page(rules: PageRules) -> None:
    text = (FEEDS / "atom-api-changes.xml").read_text(encoding="utf-8")

    assert "feed" in FORMATS
    assert parse_page(text, page_format="feed", rules=rules) == parse_feed(text, rules)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "feed is empty"),
        ("  \n\t\n", "feed is empty"),
        (
            "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
            "<body><h1>Bad Gateway</h1></body></html>\n",
            r"not an RSS or Atom feed \(it is an HTML page\)",
        ),
        ('{"error": "rate limited"}', r"\(it holds no XML element\)"),
        (
            '<?xml version="1.0"?><error><code>403</code></error>',
            r"\(its root element is <error>\)",
        ),
        (
            '<rss version="2.0"><channel><title>A & B</title></channel></rss>',
            "not well-formed XML and no item could be read",
        ),
        (
            rss(item("First"), item("Second")).partition("Second")[0],
            r"closing </rss> tag, so it looks cut short",
        ),
    ],
    ids=["empty", "blank", "html-page", "json", "other-xml", "malformed", "cut-short"],
)
def test_text_that_is_no_whole_feed_is_a_one_line_error(
    text: str, reason: str, rules: PageRules
) -> None:
    with pytest.raises(ParseError, match=reason) as caught:
        parse_feed(text, rules)

    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", [EMPTY_RSS, EMPTY_ATOM], ids=["rss", "atom"])
def test_feed_without_items_is_an_empty_page(text: str, rules: PageRules) -> None:
    page = parse_feed(text, rules)

    assert page.entries == ()
    assert page.warnings == ()


def test_malformed_feed_is_read_leniently_with_a_page_warning(
    rules: PageRules,
) -> None:
    text = rss("<item><title>Search & export move on June 1, 2031</title></item>")

    page = parse_feed(text, rules)

    assert [entry.title for entry in page.entries] == [
        "Search & export move on June 1, 2031"
    ]
    assert len(page.warnings) == 1
    assert page.warnings[0].startswith("feed is not well-formed XML")


@pytest.mark.parametrize(
    ("encoding", "place"),
    [("windows-1251", "Москва"), ("Shift_JIS", "東京"), ("UTF-16", "Zürich")],
)
def test_text_decoded_before_parsing_ignores_the_declared_encoding(
    encoding: str, place: str, rules: PageRules
) -> None:
    text = rss(item(f"{place} region moves on June 1, 2031")).replace(
        'encoding="utf-8"', f'encoding="{encoding}"'
    )

    entry = parse_feed(text, rules).entries[0]

    assert entry.title == f"{place} region moves on June 1, 2031"


def test_item_without_title_takes_the_first_line_of_its_text(
    rules: PageRules,
) -> None:
    text = rss(
        item(None, "<p>Exports pause on May 6, 2031</p><p>They resume after.</p>")
    )

    entry = parse_feed(text, rules).entries[0]

    assert entry.title == "Exports pause on May 6, 2031"
    assert entry.details == "Exports pause on May 6, 2031\nThey resume after."
    assert entry.date_text == "May 6, 2031"


def test_item_without_title_or_text_is_skipped_with_a_warning(
    rules: PageRules,
) -> None:
    text = rss(item("Kept on June 1, 2031"), "<item><guid>empty-1</guid></item>")

    page = parse_feed(text, rules)

    assert [entry.title for entry in page.entries] == ["Kept on June 1, 2031"]
    assert page.warnings == ("feed item 2 has no title or text; skipped",)


def test_only_web_links_are_kept(rules: PageRules) -> None:
    text = rss(
        "<item><title>Links</title><link>javascript:alert(1)</link>"
        "<description>"
        + html.escape(
            '<a href="/relative">here</a> <a href="https://docs.example.com/a">docs</a>'
        )
        + "</description></item>"
    )

    entry = parse_feed(text, rules).entries[0]

    assert entry.links == ("https://docs.example.com/a",)


def test_unreadable_date_is_passed_over_with_its_warning(rules: PageRules) -> None:
    text = rss(
        item("Quota reset on February 30, 2031", "<p>It moved to March 3, 2031.</p>")
    )

    entry = parse_feed(text, rules).entries[0]

    assert entry.date_text == "March 3, 2031"
    assert entry.date is not None and entry.date.isoformat() == "2031-03-03"
    assert len(entry.warnings) == 1
    assert entry.warnings[0].startswith("could not read a date in 'February 30, 2031'")


def test_zone_after_an_iso_time_is_kept(rules: PageRules) -> None:
    text = rss(item("Scheduled maintenance 2031-03-14 02:00 UTC", guid="m-1"))

    entry = parse_feed(text, rules).entries[0]

    assert entry.due_at is not None
    assert entry.due_at.isoformat() == "2031-03-14T02:00:00+00:00"


def known(entries: tuple[ParsedEntry, ...]) -> list[Known]:
    """Entries as the diff takes the stored state."""
    return [Known(ref, entry) for ref, entry in enumerate(entries, start=1)]


@pytest.mark.parametrize("identity", ["guid", "link"])
def test_title_edit_under_the_same_id_is_one_entry_edited_and_rescheduled(
    identity: str, rules: PageRules
) -> None:
    same = {identity: "https://status.example.com/announcements/101"}
    before = parse_feed(rss(item("API v1 sunset on June 1, 2031", **same)), rules)
    after = parse_feed(
        rss(item("Sunset of the old API postponed to September 1, 2031", **same)),
        rules,
    )

    comparison = compare(known(before.entries), after.entries)

    assert comparison.added == () and comparison.removed == ()
    assert [old.ref for old, _ in comparison.matches] == [1]
    assert [change.kind for change in comparison.changes] == [
        EventKind.RESCHEDULED,
        EventKind.EDITED,
    ]


def test_reordered_items_give_no_event(rules: PageRules) -> None:
    items = [
        item("API v1 sunset on June 1, 2031", guid="a-1"),
        item("Scheduled maintenance March 14, 2031 02:00 UTC", guid="a-2"),
        item("Maintenance", "<p>Nightly backups move.</p>", guid="a-3"),
        item("Maintenance", "<p>Nightly backups move.</p>", guid="a-4"),
    ]
    before = parse_feed(rss(*items), rules)
    after = parse_feed(rss(*reversed(items)), rules)

    comparison = compare(known(before.entries), after.entries)

    assert comparison.changes == ()
    assert len(comparison.matches) == 4
    assert all(old.entry == new for old, new in comparison.matches)


def test_item_leaving_a_capped_feed_is_not_paired_with_a_newcomer(
    rules: PageRules,
) -> None:
    base = "https://status.example.com/announcements/"
    before = parse_feed(
        rss(
            item("Search v1 retires on June 1, 2031", guid=f"{base}101"),
            item("Exports pause on May 6, 2031", guid=f"{base}102"),
        ),
        rules,
    )
    after = parse_feed(
        rss(
            item("Exports pause on May 6, 2031", guid=f"{base}102"),
            item("Webhooks sign payloads from July 1, 2031", guid=f"{base}109"),
        ),
        rules,
    )

    comparison = compare(known(before.entries), after.entries)

    assert [(change.kind, change.ref) for change in comparison.changes] == [
        (EventKind.ADDED, None),
        (EventKind.REMOVED, 1),
    ]


def test_item_without_id_or_link_is_known_by_its_title(rules: PageRules) -> None:
    entry = parse_feed(rss(item("New Usage dashboard!")), rules).entries[0]

    assert (entry.key, entry.row_key) == ("new usage dashboard", None)


class RecordingHandler(BaseHTTPRequestHandler):
    """Serve a feed on every path and remember each request."""

    requests: list[str]
    feed = rss(item("Served on June 1, 2031")).encode()

    def do_GET(self) -> None:
        self.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(self.feed)))
        self.end_headers()
        self.wfile.write(self.feed)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def feed_server() -> Iterator[tuple[str, list[str]]]:
    """A feed server on loopback: its base URL and the paths it was asked for."""
    requests: list[str] = []
    handler = type("Handler", (RecordingHandler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_feed_text_naming_a_url_is_not_fetched(
    feed_server: tuple[str, list[str]], rules: PageRules
) -> None:
    base, requests = feed_server

    for text in (f"{base}/feed.xml", f"feed:{base}/feed.xml"):
        with pytest.raises(ParseError, match="not an RSS or Atom feed"):
            parse_feed(text, rules)

    assert requests == []
    # The server does answer: the empty list above is no accident.
    with urllib.request.urlopen(f"{base}/feed.xml") as response:
        assert response.status == 200
    assert requests == ["/feed.xml"]


def test_feed_text_naming_a_file_is_not_opened(
    tmp_path: Path, rules: PageRules
) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(rss(item("Stored on June 1, 2031")), encoding="utf-8")
    assert parse_feed(path.read_text(encoding="utf-8"), rules).entries

    for text in (str(path), path.as_uri()):
        with pytest.raises(ParseError, match="not an RSS or Atom feed"):
            parse_feed(text, rules)


def test_external_entities_and_doctypes_are_not_loaded(
    feed_server: tuple[str, list[str]], tmp_path: Path, rules: PageRules
) -> None:
    base, requests = feed_server
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT", encoding="utf-8")
    text = (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE rss SYSTEM "{base}/rss.dtd" [\n'
        f'<!ENTITY file SYSTEM "{secret.as_uri()}">\n'
        f'<!ENTITY web SYSTEM "{base}/entity">\n'
        "]>\n"
        '<rss version="2.0"><channel><title>Status</title>'
        "<item><title>Moves on June 1, 2031 &file;</title>"
        "<description>&web;</description></item></channel></rss>\n"
    )

    page = parse_feed(text, rules)

    assert len(page.entries) == 1
    assert "SECRET" not in repr(page)
    assert requests == []
