"""Replay revisions of a page over a known state, in memory.

A sync replays one new revision over the stored entries; a backfill replays
a page's whole history over nothing. Entries already stored are known by
their database id; entries first seen during the replay get a negative
handle that the store turns into a row. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tracker.diff import Change, Comparison, EventKind, Known, compare
from tracker.parsing.model import ParsedEntry


@dataclass(frozen=True)
class StepEvent:
    """An event of one step, with the handle of the entry it concerns."""

    ref: int
    change: Change


@dataclass(frozen=True)
class Step:
    """What one revision did to the state."""

    comparison: Comparison
    events: tuple[StepEvent, ...]
    baseline: bool


@dataclass
class Replay:
    """The current entries, by handle, as revisions are applied in order."""

    current: dict[int, ParsedEntry] = field(default_factory=dict)
    removed: dict[int, ParsedEntry] = field(default_factory=dict)
    next_handle: int = -1

    @classmethod
    def over(cls, current: Iterable[Known], removed: Iterable[Known] = ()) -> Replay:
        """Start from stored entries: those on the page and those removed."""
        return cls(
            current={item.ref: item.entry for item in current},
            removed={item.ref: item.entry for item in removed},
        )

    def known(self) -> list[Known]:
        """The current entries as the diff takes them."""
        return [Known(ref, entry) for ref, entry in self.current.items()]

    def preview(self, entries: Iterable[ParsedEntry]) -> Comparison:
        """Compare a revision with the state without applying it."""
        return compare(self.known(), list(entries))

    def apply(self, comparison: Comparison) -> Step:
        """Apply a comparison made by ``preview`` and return its events.

        The first revision applied to an empty state is the baseline: its
        "added" events say what was there when tracking began.
        """
        baseline = not self.current and not self.removed
        events: list[StepEvent] = []
        for known, entry in comparison.matches:
            self.current[known.ref] = entry
        for change in comparison.changes:
            ref = change.ref if change.ref is not None else self.add(change.new)
            if change.kind is EventKind.REMOVED:
                self.removed[ref] = self.current.pop(ref)
            events.append(StepEvent(ref, change))
        return Step(comparison=comparison, events=tuple(events), baseline=baseline)

    def add(self, entry: ParsedEntry | None) -> int:
        """Take in an added entry; one that comes back keeps its old handle."""
        if entry is None:
            raise ValueError("an added change must carry its entry")
        ref = next(
            (r for r, gone in self.removed.items() if gone.key == entry.key), None
        )
        if ref is None:
            ref = self.next_handle
            self.next_handle -= 1
        else:
            del self.removed[ref]
        self.current[ref] = entry
        return ref
