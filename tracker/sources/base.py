"""What a source hands to the run: revisions of one page, with their commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class PageRevision:
    """The text of a page as one commit left it.

    ``commit`` is the full commit id; ``committed_at`` is the commit time (not
    the author time) as an aware UTC datetime; ``path`` is where the page lived
    in that commit, which changes when the vendor moves it.
    """

    commit: str
    committed_at: datetime
    path: str
    text: str


class Source(Protocol):
    """What every kind of source offers the run.

    ``known_path`` and ``known_commit`` are the page's path and the commit seen
    at the last successful sync; a source uses them to find a page that moved.
    Both methods raise ``SourceError`` with a message for the user.
    """

    def fetch_latest(
        self, *, known_path: str | None = None, known_commit: str | None = None
    ) -> PageRevision:
        """Return the page as it is now."""
        ...

    def history(self, *, known_path: str | None = None) -> list[PageRevision]:
        """Return every revision of the page, oldest first."""
        ...
