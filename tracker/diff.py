"""Compare two revisions of a page: which changes were added, moved, ...

Pure: no I/O. Entries are matched by identity (their key, then a fuzzy
match of titles for re-worded ones), so reordering rows, re-flowing a table
or switching between pipe and HTML tables produce no event.

The cells of a table with several date columns are matched by row key and
column: exactly first, then a renamed row only to the row with the same
numbers in the same column ("Node 20" to "Node.js 20", never "v4" to
"v5"), so a release inserted into a schedule or a column added, dropped or
moved gives events only for the cells that really changed.
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from tracker.parsing.model import ParsedEntry, Precision
from tracker.parsing.text import words

# Titles at least this similar (0-100, word order ignored) are one change
# re-worded; lower, the details must also be nearly the same.
TITLE_MATCH = 85.0
LOOSE_TITLE_MATCH = 60.0
DETAILS_MATCH = 90.0

FINE = frozenset({Precision.MINUTE, Precision.DAY})
NUMBER = re.compile(r"\d+")
# Between the heading and the key cell in a row key; see ParsedEntry.
ROW_KEY_SEPARATOR = " / "


class EventKind(enum.StrEnum):
    """What happened to an entry between two revisions."""

    ADDED = "added"
    REMOVED = "removed"
    RESCHEDULED = "rescheduled"
    MOVED = "moved"
    EDITED = "edited"


@dataclass(frozen=True)
class Known:
    """An entry as last stored, with the handle the caller knows it by."""

    ref: int
    entry: ParsedEntry


@dataclass(frozen=True)
class Change:
    """One event: ``old`` is None when added, ``new`` None when removed."""

    kind: EventKind
    ref: int | None
    old: ParsedEntry | None
    new: ParsedEntry | None


@dataclass(frozen=True)
class Comparison:
    """How a new revision relates to the stored state."""

    matches: tuple[tuple[Known, ParsedEntry], ...]
    added: tuple[ParsedEntry, ...]
    removed: tuple[Known, ...]
    changes: tuple[Change, ...]


def compare(old: Sequence[Known], new: Sequence[ParsedEntry]) -> Comparison:
    """Match ``new`` against ``old`` and list the events, in page order."""
    matches, added, removed = match_entries(old, new)
    order = {id(entry): index for index, entry in enumerate(new)}
    changes: list[Change] = []
    for known, entry in sorted(matches, key=lambda pair: order[id(pair[1])]):
        changes.extend(describe_match(known, entry))
    for entry in added:
        changes.append(Change(EventKind.ADDED, None, None, entry))
    for known in removed:
        changes.append(Change(EventKind.REMOVED, known.ref, known.entry, None))
    return Comparison(tuple(matches), tuple(added), tuple(removed), tuple(changes))


def match_entries(
    old: Sequence[Known], new: Sequence[ParsedEntry]
) -> tuple[list[tuple[Known, ParsedEntry]], list[ParsedEntry], list[Known]]:
    """Pair old and new entries: same key first, then similar titles."""
    old_by_key: dict[str, list[Known]] = defaultdict(list)
    for known in old:
        old_by_key[known.entry.key].append(known)
    new_by_key: dict[str, list[ParsedEntry]] = defaultdict(list)
    for entry in new:
        new_by_key[entry.key].append(entry)

    matches: list[tuple[Known, ParsedEntry]] = []
    for key, entries in new_by_key.items():
        matches.extend(pair_greedily(old_by_key.get(key, []), entries, same_key_score))
    paired_refs = {known.ref for known, _ in matches}
    paired_new = {id(entry) for _, entry in matches}
    unmatched_old = [known for known in old if known.ref not in paired_refs]
    unmatched_new = [entry for entry in new if id(entry) not in paired_new]

    fuzzy = pair_greedily(unmatched_old, unmatched_new, similarity)
    matches.extend(fuzzy)
    paired_refs |= {known.ref for known, _ in fuzzy}
    paired_new |= {id(entry) for _, entry in fuzzy}
    added = [entry for entry in new if id(entry) not in paired_new]
    removed = [known for known in old if known.ref not in paired_refs]
    return matches, added, removed


def pair_greedily(
    old: Sequence[Known],
    new: Sequence[ParsedEntry],
    score: Callable[[ParsedEntry, ParsedEntry], float | None],
) -> list[tuple[Known, ParsedEntry]]:
    """Pair entries, best score first, each at most once; None never pairs."""
    candidates: list[tuple[float, int, int]] = []
    for i, known in enumerate(old):
        for j, entry in enumerate(new):
            value = score(known.entry, entry)
            if value is not None:
                # Ties go to page order, so identical rows pair in order.
                candidates.append((-value, i, j))

    pairs: list[tuple[Known, ParsedEntry]] = []
    used_old: set[int] = set()
    used_new: set[int] = set()
    for _, i, j in sorted(candidates):
        if i not in used_old and j not in used_new:
            used_old.add(i)
            used_new.add(j)
            pairs.append((old[i], new[j]))
    return pairs


def same_key_score(old: ParsedEntry, new: ParsedEntry) -> float:
    """How alike two entries with the same title are.

    Pages repeat titles ("Scheduled downtime" every month); such rows are
    told apart by date, then section, then text, so re-ordering them pairs
    each with itself.
    """
    same_date = old.date == new.date and old.due_at == new.due_at
    same_status = old.status == new.status
    details = fuzz.ratio(" ".join(words(old.details)), " ".join(words(new.details)))
    return 1000.0 * same_date + 100.0 * same_status + details / 100.0


def similarity(old: ParsedEntry, new: ParsedEntry) -> float | None:
    """How alike two entries are, or None when they are different changes."""
    if (old.row_key is None) != (new.row_key is None):
        return None
    if old.row_key is not None:
        return cell_similarity(old, new)
    title_score = fuzz.token_sort_ratio(old.key, new.key)
    if title_score >= TITLE_MATCH:
        return title_score
    if title_score >= LOOSE_TITLE_MATCH and old.details and new.details:
        details_score = fuzz.ratio(
            " ".join(words(old.details)), " ".join(words(new.details))
        )
        if details_score >= DETAILS_MATCH:
            return title_score
    return None


def cell_similarity(old: ParsedEntry, new: ParsedEntry) -> float | None:
    """How alike two cells of several-date tables are, or None.

    The columns must be nearly the same and the row names must write the
    same numbers and share their words; the heading above the table only
    breaks ties, so a renamed heading keeps its rows.
    """
    old_heading, old_row, old_column = split_cell_key(old)
    new_heading, new_row, new_column = split_cell_key(new)
    if fuzz.token_sort_ratio(old_column, new_column) < TITLE_MATCH:
        return None
    if NUMBER.findall(old_row) != NUMBER.findall(new_row):
        return None
    row_score = fuzz.token_set_ratio(old_row, new_row)
    if row_score < TITLE_MATCH and not (
        row_score >= LOOSE_TITLE_MATCH and old.date == new.date
    ):
        return None
    return row_score + fuzz.ratio(old_heading, new_heading) / 100.0


def split_cell_key(entry: ParsedEntry) -> tuple[str, str, str]:
    """The heading, row and column parts of a table cell's key."""
    row_key = entry.row_key or ""
    heading, _, row = row_key.rpartition(ROW_KEY_SEPARATOR)
    column = entry.key.removeprefix(row_key).strip()
    return heading, row, column


def describe_match(known: Known, new: ParsedEntry) -> list[Change]:
    """The events between an entry's stored and new forms (maybe none)."""
    old = known.entry
    kinds: list[EventKind] = []
    if old.status != new.status:
        kinds.append(EventKind.MOVED)
    if is_rescheduled(old, new):
        kinds.append(EventKind.RESCHEDULED)
    if title_words(old) != title_words(new) or words(old.details) != words(new.details):
        kinds.append(EventKind.EDITED)
    return [Change(kind, known.ref, old, new) for kind in kinds]


def title_words(entry: ParsedEntry) -> tuple[str, ...]:
    """The words of a title without the date it writes ("GA on May 6, 2031").

    A sentence that gives its own date changes with each reschedule; that
    is a reschedule, not an edit.
    """
    title = entry.title
    if entry.date_text and entry.date_text in title:
        title = title.replace(entry.date_text, " ")
    return words(title)


def is_rescheduled(old: ParsedEntry, new: ParsedEntry) -> bool:
    """Tell whether the entry's date really changed.

    A time added to the same day ("Feb 3, 2020" -> "February 3, 2020.
    9:00am ET") refines the date and is no reschedule; a vague date made
    exact ("Mid January" -> "January 20") or the reverse is one, and so is
    a range whose last day moved.
    """
    if old.date is None or new.date is None:
        return old.date != new.date
    if old.end != new.end:
        return True
    if old.precision == new.precision == Precision.MINUTE:
        return old.due_at != new.due_at
    if old.precision in FINE and new.precision in FINE:
        return old.date != new.date
    if (old.precision in FINE) != (new.precision in FINE):
        return True
    return old.precision != new.precision or old.date != new.date
