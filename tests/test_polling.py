"""Cheap change checks: a commits feed polled with ETag before any git fetch,
and feeds as sources of their own, against a loopback HTTP server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlmodel import select

from tests.feed_server import FeedServer, Served, commits_atom, feed_server
from tests.test_cli import PAGE, commit_page, git, invoke, write_config
from tracker.config import load_config
from tracker.errors import SourceError
from tracker.sources.feed import Validators, poll
from tracker.store.db import open_engine, session_scope
from tracker.store.models import Entry, Source
from tracker.sync import sync_source

pytestmark = pytest.mark.database

FEED = "/Widgets/docs/commits/main/changes.md.atom"
NEW_DATE_PAGE = PAGE.read_text(encoding="utf-8").replace(
    "March 3rd 2031", "March 10th 2031"
)


@pytest.fixture
def server() -> object:
    with feed_server() as running:
        yield running


@pytest.fixture
def vendor(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "vendor"
    git("init", "--quiet", "--initial-branch=main", repo)
    first = commit_page(repo, PAGE.read_text(encoding="utf-8"), "Add change page")
    return repo, first


def polled_config(tmp_path: Path, repo: Path, feed_url: str, every: str = "6h") -> Path:
    return write_config(
        tmp_path,
        f'[[sources]]\nname = "widgets"\nrepo = "{repo}"\nbranch = "main"\n'
        f'path = "changes.md"\ntimezone = "America/New_York"\n'
        f'commits_feed = "{feed_url}"\nfull_fetch_every = "{every}"\n',
    )


def synced_with_feed(
    tmp_path: Path, vendor: tuple[Path, str], server: FeedServer
) -> tuple[Path, Path, str]:
    """A config polling the feed, synced once; the repo and its first commit."""
    repo, first = vendor
    server.paths[FEED] = Served(commits_atom(first))
    config = polled_config(tmp_path, repo, server.url(FEED))
    assert invoke(config, "sync")[0] == 0
    return config, repo, first


def v1_title_date(config: Path) -> str:
    settings = load_config(config)
    with session_scope(open_engine(settings.database_url)) as session:
        row = session.exec(
            select(Entry).where(Entry.title == "Retire the v1 widgets endpoint")
        ).one()
        return str(row.date)


def test_poll_sends_the_validators_and_reads_304_as_unchanged(
    server: FeedServer,
) -> None:
    server.paths[FEED] = Served(
        commits_atom("a" * 40), last_modified="Wed, 01 Jan 2031 00:00:00 GMT"
    )

    first = poll(server.url(FEED), Validators())
    second = poll(server.url(FEED), first.validators)

    assert first.body == server.paths[FEED].body
    assert first.validators == Validators(
        server.paths[FEED].etag, "Wed, 01 Jan 2031 00:00:00 GMT"
    )
    assert first.newest_item() == "tag:github.com,2008:Grit::Commit/" + "a" * 40
    assert second.not_modified
    assert server.hits[1].if_none_match == server.paths[FEED].etag
    assert server.hits[1].if_modified_since == "Wed, 01 Jan 2031 00:00:00 GMT"
    assert server.statuses(FEED) == [200, 304]


@pytest.mark.parametrize(
    ("served", "message"),
    [
        (None, "answered HTTP 404 Not Found; check the URL"),
        (
            Served(b"<html><body>Sign in</body></html>", content_type="text/html"),
            "is not an RSS or Atom feed",
        ),
        (
            Served(b"", status=302, headers={"Location": "file:///etc/passwd"}),
            "Redirection to url 'file:///etc/passwd' is not allowed",
        ),
    ],
)
def test_poll_failures_are_one_line_source_errors(
    server: FeedServer, served: Served | None, message: str
) -> None:
    if served is not None:
        server.paths[FEED] = served

    with pytest.raises(SourceError) as caught:
        poll(server.url(FEED), Validators()).newest_item()

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_only_http_feeds_are_polled(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(commits_atom("a" * 40))

    with pytest.raises(SourceError, match="is not an http"):
        poll(secret.as_uri(), Validators())


def test_an_unchanged_feed_saves_the_git_fetch(
    tmp_path: Path, vendor: tuple[Path, str], server: FeedServer
) -> None:
    config, repo, first = synced_with_feed(tmp_path, vendor, server)
    # The vendor commits, but the feed (like GitHub's, minutes behind)
    # does not show it yet: no fetch, so the change is not seen.
    second = commit_page(repo, NEW_DATE_PAGE, "Move v1 retirement")
    code, out, _ = invoke(config, "sync")

    assert code == 0
    assert out.startswith("widgets: no new revision (the feed shows none; not fetched)")
    assert server.statuses(FEED) == [200, 304]
    assert v1_title_date(config) == "2031-03-03"

    # The feed shows the new commit: now the tracker fetches and sees it.
    server.paths[FEED] = Served(commits_atom(second, first))
    code, out, _ = invoke(config, "sync")

    assert code == 0
    assert out.startswith("widgets: 1 rescheduled;")
    assert server.statuses(FEED) == [200, 304, 200]
    assert v1_title_date(config) == "2031-03-10"


def test_a_full_fetch_runs_when_the_last_is_older_than_full_fetch_every(
    tmp_path: Path, vendor: tuple[Path, str], server: FeedServer
) -> None:
    repo, first = vendor
    server.paths[FEED] = Served(commits_atom(first))
    config = polled_config(tmp_path, repo, server.url(FEED), every="2h")
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        assert invoke(config, "sync")[0] == 0
    commit_page(repo, NEW_DATE_PAGE, "Move v1 retirement")

    with time_machine.travel(start + timedelta(hours=1), tick=False):
        assert "not fetched" in invoke(config, "sync")[1]
    with time_machine.travel(start + timedelta(hours=2, minutes=1), tick=False):
        out = invoke(config, "sync")[1]

    assert out.startswith("widgets: 1 rescheduled;")
    assert server.statuses(FEED) == [200, 304, 304]


def test_a_failing_feed_costs_only_the_saving(
    tmp_path: Path, vendor: tuple[Path, str], server: FeedServer
) -> None:
    repo, _ = vendor
    config = polled_config(tmp_path, repo, server.url(FEED))  # the feed is 404
    assert invoke(config, "sync")[0] == 0
    commit_page(repo, NEW_DATE_PAGE, "Move v1 retirement")

    code, out, _ = invoke(config, "sync")

    assert code == 0
    assert out.startswith("widgets: 1 rescheduled;")
    settings = load_config(config)
    with session_scope(open_engine(settings.database_url)) as session:
        source = session.exec(select(Source)).one()
    assert (source.consecutive_failures, source.last_error) == (0, None)


def test_a_failed_fetch_keeps_the_old_marker_so_the_next_poll_fetches(
    tmp_path: Path, vendor: tuple[Path, str], server: FeedServer
) -> None:
    config, repo, first = synced_with_feed(tmp_path, vendor, server)
    second = commit_page(repo, NEW_DATE_PAGE, "Move v1 retirement")
    server.paths[FEED] = Served(commits_atom(second, first))
    moved = repo.with_name("moved")
    repo.rename(moved)

    assert invoke(config, "sync")[0] == 1
    moved.rename(repo)
    out = invoke(config, "sync")[1]

    assert out.startswith("widgets: 1 rescheduled;")


FEED_BODY = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Widgets API announcements</title>
<link>https://example.invalid/</link><description>Changes</description>
<item><guid>widgets-1</guid><title>Retiring the v1 widgets endpoint on June 1, 2031</title>
<link>https://example.invalid/v1</link><description>Move to v2.</description></item>
<item><guid>widgets-2</guid><title>Faster search</title>
<link>https://example.invalid/search</link><description>No date yet.</description></item>
</channel></rss>
"""


def test_a_feed_source_turns_items_into_entries_and_polls_with_etag(
    tmp_path: Path, server: FeedServer
) -> None:
    server.paths["/feed.xml"] = Served(
        FEED_BODY.encode(), content_type="application/rss+xml"
    )
    config = write_config(
        tmp_path,
        f'[[sources]]\nname = "announcements"\ntype = "feed"\n'
        f'url = "{server.url("/feed.xml")}"\n',
    )

    first = invoke(config, "sync")
    second = invoke(config, "sync")
    listing = invoke(config, "list", "--all", "--json")[1]

    assert first[0] == 0 and second[0] == 0, first[2] + second[2]
    assert "first sync, 2 entries recorded as baseline" in first[1]
    assert second[1].startswith("announcements: no new revision")
    assert server.statuses("/feed.xml") == [200, 304]
    assert '"title": "Retiring the v1 widgets endpoint on June 1, 2031"' in listing
    assert '"date": "2031-06-01"' in listing
    assert '"title": "Faster search"' in listing


def test_an_item_that_ages_out_of_a_feed_is_kept_not_removed(
    tmp_path: Path, server: FeedServer
) -> None:
    server.paths["/feed.xml"] = Served(FEED_BODY.encode())
    config = write_config(
        tmp_path,
        f'[[sources]]\nname = "announcements"\ntype = "feed"\n'
        f'url = "{server.url("/feed.xml")}"\n',
    )
    assert invoke(config, "sync")[0] == 0
    # A new item arrives; the feed keeps its newest two, so "Faster search"
    # drops off the end.
    newer = FEED_BODY.replace(
        "<item><guid>widgets-2</guid>",
        "<item><guid>widgets-3</guid><title>Dark mode on July 4, 2031</title>"
        "<description>Opt in.</description></item>\n<item><guid>widgets-2</guid>",
    )
    newer = newer[: newer.index("<item><guid>widgets-2</guid>")] + "</channel></rss>\n"
    server.paths["/feed.xml"] = Served(newer.encode())

    code, out, err = invoke(config, "sync")
    titles = [
        entry["title"]
        for entry in json.loads(invoke(config, "list", "--all", "--json")[1])
    ]

    assert code == 0, err
    assert out.startswith("announcements: 1 added;")
    assert sorted(titles) == [
        "Dark mode on July 4, 2031",
        "Faster search",
        "Retiring the v1 widgets endpoint on June 1, 2031",
    ]


def test_feed_source_config_needs_a_url(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, '[[sources]]\nname = "announcements"\ntype = "feed"\n'
    )

    code, _, err = invoke(config, "sync")

    assert code == 2
    assert "a feed source needs url" in err


@pytest.mark.postgresql_only
def test_sync_skips_a_source_another_process_is_syncing(
    tmp_path: Path, vendor: tuple[Path, str]
) -> None:
    # SQLite serves one daemon; the sync lock is PostgreSQL's.
    from tracker.store.db import exclusive

    repo, _ = vendor
    config = load_config(polled_config(tmp_path, repo, "off"))
    engine = open_engine(config.database_url)

    with exclusive(engine, "sync:widgets", wait=False) as held:
        busy = sync_source(engine, config, config.sources[0], wait=False)
    after = sync_source(engine, config, config.sources[0], wait=False)

    assert held is True
    assert busy.busy and busy.commit is None
    assert not after.busy and after.baseline


def test_a_redirect_loop_is_one_line(server: FeedServer) -> None:
    server.paths[FEED] = Served(b"", status=302, headers={"Location": FEED})

    with pytest.raises(SourceError) as caught:
        poll(server.url(FEED), Validators())

    assert "\n" not in str(caught.value)
    assert "redirect" in str(caught.value)


def test_backfill_of_a_feed_says_it_keeps_no_history(
    tmp_path: Path, server: FeedServer
) -> None:
    server.paths["/feed.xml"] = Served(FEED_BODY.encode())
    config = write_config(
        tmp_path,
        f'[[sources]]\nname = "announcements"\ntype = "feed"\n'
        f'url = "{server.url("/feed.xml")}"\n',
    )

    code, _, err = invoke(config, "backfill")

    assert code == 1
    assert err == (
        "error: announcements: a feed keeps no history to replay; "
        "'tracker sync' reads what it shows now\n"
    )


def test_a_feed_url_is_stored_without_its_secrets() -> None:
    from tracker.sources.feed import display_url

    assert (
        display_url("https://bot:s3cret@status.example.com/feed.atom?token=abc")
        == "https://***@status.example.com/feed.atom?***"
    )


def test_a_body_naming_a_local_file_is_not_opened(
    tmp_path: Path, server: FeedServer
) -> None:
    # A real feed on disk: were the body opened as a path, it would read.
    secret = tmp_path / "secret.atom"
    secret.write_bytes(commits_atom("a" * 40))
    server.paths[FEED] = Served(str(secret).encode(), content_type="text/plain")

    answer = poll(server.url(FEED), Validators())

    with pytest.raises(SourceError, match="is not an RSS or Atom feed"):
        answer.newest_item()
