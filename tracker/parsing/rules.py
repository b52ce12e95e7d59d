"""How to read one source's pages: zone, reference time, headings and hints."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DEFAULT_UPCOMING_HEADINGS = ("upcoming", "planned", "scheduled", "future")
DEFAULT_COMPLETED_HEADINGS = ("completed", "past", "done", "released", "previous")
# The shapes of dated changes a page can hold, in the order they are preferred.
SHAPES = ("tables", "headings", "items")


def compile_patterns(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """Compile case-insensitive regular expressions; ValueError names a bad one."""
    return tuple(compile_pattern(pattern) for pattern in patterns)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a case-insensitive regular expression; ValueError if it is bad."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"bad regular expression {pattern!r}: {error}") from None


@dataclass(frozen=True)
class PageHints:
    """What a source's config says about its page where detection cannot guess.

    Every field is optional; empty means "detect". ``sections`` keeps only
    what lies under a heading matching one of them; ``tables`` keeps only
    tables whose header row (cells joined with " | ") or nearest heading
    matches one; ``key_column`` picks the column naming each row;
    ``date_columns`` picks the columns holding dates; ``shapes`` says which
    of SHAPES to read instead of the first one the page has.
    """

    sections: tuple[re.Pattern[str], ...] = ()
    tables: tuple[re.Pattern[str], ...] = ()
    key_column: re.Pattern[str] | None = None
    date_columns: tuple[re.Pattern[str], ...] = ()
    shapes: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        sections: Sequence[str] = (),
        tables: Sequence[str] = (),
        key_column: str | None = None,
        date_columns: Sequence[str] = (),
        shapes: Sequence[str] = (),
    ) -> PageHints:
        """Hints from patterns (case-insensitive regular expressions).

        Raises ValueError for a bad pattern or a shape not in SHAPES.
        """
        unknown = [shape for shape in shapes if shape not in SHAPES]
        if unknown:
            raise ValueError(
                f"unknown shape {unknown[0]!r}; use one of {', '.join(SHAPES)}"
            )
        return cls(
            sections=compile_patterns(sections),
            tables=compile_patterns(tables),
            key_column=compile_pattern(key_column) if key_column else None,
            date_columns=compile_patterns(date_columns),
            shapes=tuple(shapes),
        )


@dataclass(frozen=True)
class PageRules:
    """How to read one source's pages.

    ``reference`` is "now" for the page: entries outside any status section
    are upcoming when their date is after it. For a past revision it is the
    revision's commit time.
    """

    zone: ZoneInfo
    reference: datetime
    upcoming_headings: tuple[re.Pattern[str], ...]
    completed_headings: tuple[re.Pattern[str], ...]
    hints: PageHints = PageHints()

    @classmethod
    def build(
        cls,
        zone: ZoneInfo,
        reference: datetime,
        upcoming: Sequence[str] = DEFAULT_UPCOMING_HEADINGS,
        completed: Sequence[str] = DEFAULT_COMPLETED_HEADINGS,
        hints: PageHints | None = None,
    ) -> PageRules:
        """Rules from heading patterns (case-insensitive regular expressions)."""
        return cls(
            zone=zone,
            reference=reference,
            upcoming_headings=compile_patterns(upcoming),
            completed_headings=compile_patterns(completed),
            hints=hints or PageHints(),
        )
