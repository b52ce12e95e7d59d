"""Feeds over HTTP: conditional polling, and feeds as sources of their own.

``poll`` asks for a feed with the validators of the previous answer
(``If-None-Match`` / ``If-Modified-Since``), so an unchanged feed costs one
small request and a 304. It serves two uses: the cheap check before a git
fetch (the Atom feed of the commits touching a page says whether there is
anything to fetch), and ``type = "feed"`` sources, whose items announce
dated changes and are read by the parser's "feed" format.
"""

from __future__ import annotations

import hashlib
import io
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import feedparser

from tracker import __version__
from tracker.errors import SourceError
from tracker.sources.base import PageRevision

log = logging.getLogger(__name__)

TIMEOUT = 30.0
# A feed is a few hundred kilobytes at most; more is a wrong URL.
MAX_BYTES = 10 * 1024 * 1024
USER_AGENT = f"tracker/{__version__} (change calendar tracker)"


@dataclass(frozen=True)
class Validators:
    """What a server said identifies its answer, for the next conditional GET."""

    etag: str | None = None
    modified: str | None = None


@dataclass(frozen=True)
class Poll:
    """One answer to a conditional GET.

    ``body`` is None when the server answered 304 Not Modified.
    """

    url: str
    validators: Validators
    body: bytes | None
    fetched_at: datetime

    @property
    def not_modified(self) -> bool:
        return self.body is None

    @cached_property
    def parsed(self) -> Any:
        """The body as feedparser reads it, read once; None for a 304.

        It is given a stream: a str or bytes body naming a URL or a file
        would make feedparser fetch or open it, and the body is untrusted.
        """
        if self.body is None:
            return None
        return feedparser.parse(io.BytesIO(self.body))

    def newest_item(self) -> str | None:
        """The id (or link) of the feed's first item, None for an empty feed.

        Raises SourceError when the body is not a feed at all: a login page
        or an error page must not read as "nothing changed".
        """
        parsed = self.parsed
        if parsed is None:
            return None
        if not parsed.get("version") and not parsed.entries:
            raise SourceError(
                f"{self.url} is not an RSS or Atom feed; check the feed URL"
            )
        if not parsed.entries:
            return None
        first = parsed.entries[0]
        marker = first.get("id") or first.get("link") or first.get("title")
        return str(marker) if marker else None


def _opener() -> urllib.request.OpenerDirector:
    # The default handlers include file: and ftp:; a feed is http(s) only,
    # and urllib follows redirects to http(s) and ftp: only.
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def poll(url: str, validators: Validators, *, timeout: float = TIMEOUT) -> Poll:
    """GET ``url`` unless it is unchanged since ``validators`` were given.

    Raises SourceError, one line saying what to check, for a refused or
    failed request.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise SourceError(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    request.add_header("Accept", "application/atom+xml, application/rss+xml, */*;q=0.5")
    if validators.etag:
        request.add_header("If-None-Match", validators.etag)
    if validators.modified:
        request.add_header("If-Modified-Since", validators.modified)
    now = datetime.now(UTC)
    try:
        with _opener().open(request, timeout=timeout) as response:
            body = response.read(MAX_BYTES + 1)
            headers: Any = response.headers
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 304:
            log.debug("feed not modified url=%s", url)
            return Poll(url, validators, None, now)
        # urllib's reasons may run over several lines (a redirect loop).
        reason = " ".join(str(error.reason).split())
        raise SourceError(
            f"{url} answered HTTP {error.code} {reason}; check the URL "
            "(and that the feed is public)"
        ) from None
    except urllib.error.URLError as error:
        reason = " ".join(str(error.reason).split())
        raise SourceError(
            f"cannot reach {url}: {reason}; check the address and the network"
        ) from None
    except (TimeoutError, OSError) as error:
        raise SourceError(f"cannot read {url}: {error}; try again later") from None
    if len(body) > MAX_BYTES:
        raise SourceError(
            f"{url} sent more than {MAX_BYTES // 1024 // 1024} MB; that is not a "
            "change feed, check the URL"
        )
    fresh = Validators(headers.get("ETag"), headers.get("Last-Modified"))
    return Poll(url, fresh, body, now)


class FeedSource:
    """An RSS or Atom feed whose items announce dated changes.

    A revision is the feed's body; its id is the body's SHA-1, so the same
    body is the same revision. A feed has no history: ``history`` returns
    the current body only.
    """

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url

    def fetch(self, validators: Validators) -> tuple[PageRevision | None, Poll]:
        """The feed as it is now, or None when the server says it is unchanged."""
        answer = poll(self.url, validators)
        if answer.body is None:
            return None, answer
        answer.newest_item()  # refuses a body that is not a feed
        # The parser reads the text as UTF-8 whatever its XML declaration says.
        encoding = answer.parsed.get("encoding") or "utf-8"
        try:
            text = answer.body.decode(encoding, errors="replace")
        except LookupError:
            text = answer.body.decode("utf-8", errors="replace")
        digest = hashlib.sha1(answer.body, usedforsecurity=False).hexdigest()
        page = PageRevision(
            commit=digest, committed_at=answer.fetched_at, path=self.url, text=text
        )
        return page, answer

    def fetch_latest(
        self, *, known_path: str | None = None, known_commit: str | None = None
    ) -> PageRevision:
        """The feed as it is now, fetched unconditionally."""
        page, _ = self.fetch(Validators())
        assert page is not None
        return page

    def history(self, *, known_path: str | None = None) -> list[PageRevision]:
        """A feed keeps no history: its current state only."""
        return [self.fetch_latest(known_path=known_path)]


def display_url(url: str) -> str:
    """``url`` fit for display and storage: any password, token or query
    replaced by "***"."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = "***@" if "@" in parts.netloc else ""
    query = "?***" if parts.query else ""
    return f"{parts.scheme}://{userinfo}{host}{parts.path}{query}"
