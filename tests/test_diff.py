"""Matching two revisions of a page: only real changes are events."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tracker.diff import EventKind, Known, compare
from tracker.parsing import PageRules, parse_page
from tracker.parsing.model import ParsedEntry, Precision, Status

PIPE_PAGE = """## Upcoming

| Date | Change |
|---|---|
| May 6, 2031 | **Retire v1 search**<br><br>Use v2 search, which pages results. |
| June 1, 2031. 9:00am ET | **Rotate keys**<br><br>Downtime for:<br>- Webhooks<br>- Search |

## Completed

| Date | Change |
|---|---|
| Jan 5, 2030 | **Drop XML**<br><br>JSON only. |
"""

# The same page: rows re-ordered, sections swapped, an HTML table, three
# columns, escapes, other spacing and a list written as a sentence.
REFORMATTED_PAGE = """## Completed

<table>
<tr><th>Date</th><th>Change</th><th>Details</th></tr>
<tr><td>January 5, 2030</td><td>Drop XML</td><td>JSON   only.</td></tr>
</table>

## Upcoming

| Change | Date | Details |
|:--|:--|:--|
| Rotate keys | June 1, 2031 9:00 AM ET | Downtime for: Webhooks, Search |
| Retire v1 search | 2031-05-06 | Use v2 search, which pages results. |
"""


def parse(text: str, rules: PageRules) -> list[ParsedEntry]:
    return list(parse_page(text, page_format="markdown", rules=rules).entries)


def known(entries: list[ParsedEntry]) -> list[Known]:
    return [Known(ref, entry) for ref, entry in enumerate(entries, start=1)]


def entry(
    title: str, day: date | None, precision: Precision, **fields: object
) -> ParsedEntry:
    due_at = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
    values: dict[str, object] = {
        "key": title.lower(),
        "status": Status.UPCOMING,
        "title": title,
        "date_text": str(day),
        "date": day,
        "due_at": due_at,
        "precision": precision,
        **fields,
    }
    return ParsedEntry(**values)


def test_reformatting_and_reordering_produce_no_event(rules: PageRules) -> None:
    before = parse(PIPE_PAGE, rules)
    after = parse(REFORMATTED_PAGE, rules)

    comparison = compare(known(before), after)

    assert comparison.changes == ()
    assert len(comparison.matches) == 3


def test_each_kind_of_change_is_reported_once(rules: PageRules) -> None:
    before = parse(PIPE_PAGE, rules)
    page = (
        PIPE_PAGE.replace("May 6, 2031", "May 20, 2031")
        .replace("which pages results", "which pages and sorts results")
        .replace("| Jan 5, 2030 | **Drop XML**<br><br>JSON only. |\n", "")
        + "| June 1, 2031 | **Strict TLS**<br><br>TLS 1.3 only. |\n"
    )
    page = (
        page.replace(
            "| June 1, 2031. 9:00am ET | **Rotate keys**<br><br>Downtime for:<br>- Webhooks<br>- Search |\n",
            "",
        )
        + "| June 1, 2031. 9:00am ET | **Rotate keys**<br><br>Downtime for:<br>- Webhooks<br>- Search |\n"
    )

    changes = compare(known(before), parse(page, rules)).changes

    assert sorted((c.kind.value, (c.new or c.old).title) for c in changes) == [
        ("added", "Strict TLS"),
        ("edited", "Retire v1 search"),
        ("moved", "Rotate keys"),
        ("removed", "Drop XML"),
        ("rescheduled", "Retire v1 search"),
    ]
    slipped = next(c for c in changes if c.kind is EventKind.RESCHEDULED)
    assert (slipped.old.date, slipped.new.date) == (date(2031, 5, 6), date(2031, 5, 20))


def test_reworded_title_is_an_edit_not_a_removal_and_an_addition() -> None:
    old = entry("Deprecation of the Focus model", date(2031, 2, 1), Precision.DAY)
    new = entry("Deprecation of the Focus models", date(2031, 2, 1), Precision.DAY)

    comparison = compare([Known(7, old)], [new])

    assert [(c.kind, c.ref) for c in comparison.changes] == [(EventKind.EDITED, 7)]


def test_different_changes_with_similar_words_are_not_matched() -> None:
    old = entry("Deprecation of Face object from API", date(2031, 2, 1), Precision.DAY)
    new = entry("Stop returning Face object from API", date(2031, 4, 1), Precision.DAY)

    kinds = sorted(c.kind.value for c in compare([Known(1, old)], [new]).changes)

    assert kinds == ["added", "removed"]


def test_a_time_added_on_the_same_day_is_no_reschedule() -> None:
    old = entry("Rotate keys", date(2031, 2, 3), Precision.DAY)
    new = entry("Rotate keys", date(2031, 2, 3), Precision.MINUTE)
    new = ParsedEntry(
        **{**new.__dict__, "due_at": datetime(2031, 2, 3, 14, 0, tzinfo=UTC)}
    )

    assert compare([Known(1, old)], [new]).changes == ()


def test_a_vague_date_made_exact_is_a_reschedule() -> None:
    old = entry("Rename fields", date(2032, 1, 1), Precision.MONTH)
    new = entry("Rename fields", date(2032, 1, 20), Precision.DAY)

    kinds = [c.kind for c in compare([Known(1, old)], [new]).changes]

    assert kinds == [EventKind.RESCHEDULED]


def test_a_date_that_becomes_undated_is_a_reschedule() -> None:
    old = entry("Rename fields", date(2032, 1, 20), Precision.DAY)
    new = entry("Rename fields", None, Precision.UNKNOWN)

    kinds = [c.kind for c in compare([Known(1, old)], [new]).changes]

    assert kinds == [EventKind.RESCHEDULED]


def test_a_changed_instant_on_the_same_day_is_a_reschedule() -> None:
    first = datetime(2031, 2, 3, 14, 0, tzinfo=UTC)
    old = ParsedEntry(
        **{
            **entry("Downtime", date(2031, 2, 3), Precision.MINUTE).__dict__,
            "due_at": first,
        }
    )
    new = ParsedEntry(**{**old.__dict__, "due_at": first.replace(hour=18)})

    kinds = [c.kind for c in compare([Known(1, old)], [new]).changes]

    assert kinds == [EventKind.RESCHEDULED]


MONTHLY = """## Upcoming

| Date | Change |
|---|---|
| June 1, 2031 | **Scheduled Database Downtime**<br><br>Up to an hour. |
| July 1, 2031 | **Scheduled Database Downtime**<br><br>Up to an hour. |
| August 1, 2031 | **Scheduled Database Downtime**<br><br>Up to an hour. |
| May 6, 2031 | **Retire v1 search**<br><br>Use v2. |

## Completed

| Date | Change |
|---|---|
"""


def test_rows_with_the_same_title_are_told_apart_by_date(rules: PageRules) -> None:
    before = parse(MONTHLY, rules)
    lines = MONTHLY.splitlines()
    reordered = "\n".join(
        [*lines[:4], lines[6], lines[7], lines[4], lines[5], *lines[8:]]
    )
    june = lines[4]
    moved = "\n".join([*lines[:4], *lines[5:8], *lines[8:], june]) + "\n"

    assert compare(known(before), parse(reordered, rules)).changes == ()
    changes = compare(known(before), parse(moved, rules)).changes
    assert [(c.kind, c.ref) for c in changes] == [(EventKind.MOVED, 1)]


def test_a_range_whose_last_day_moved_is_a_reschedule() -> None:
    old = ParsedEntry(
        **{
            **entry("Failover window", date(2031, 5, 6), Precision.DAY).__dict__,
            "end": date(2031, 5, 9),
        }
    )
    new = ParsedEntry(**{**old.__dict__, "end": date(2031, 5, 12)})

    kinds = [c.kind for c in compare([Known(1, old)], [new]).changes]

    assert kinds == [EventKind.RESCHEDULED]


SCHEDULE = """# Release schedule

| Release | Active support until | End of life |
|---|---|---|
| v3 | 2031-01-31 | 2031-06-30 |
| v4 LTS | 2032-01-31 | 2032-06-30 |
| v5 | 2033-01-31 | 2033-06-30 |
"""


def events(before: str, after: str, rules: PageRules) -> list[tuple[str, str]]:
    """The events between two revisions, as (kind, title), in a stable order."""
    changes = compare(known(parse(before, rules)), parse(after, rules)).changes
    return sorted((c.kind.value, (c.new or c.old).title) for c in changes)  # type: ignore[union-attr]


def test_resorted_schedule_gives_no_event(rules: PageRules) -> None:
    lines = SCHEDULE.splitlines()
    resorted = "\n".join([*lines[:4], lines[6], lines[4], lines[5]]) + "\n"

    assert events(SCHEDULE, resorted, rules) == []


def test_realigned_schedule_gives_no_event(rules: PageRules) -> None:
    realigned = """# Release schedule

| Release |  Active support until |   End of life |
|:--------|---------------------:|:-------------:|
| v3      |            2031-01-31 |  2031-06-30   |
| v4 LTS  |            2032-01-31 |  2032-06-30   |
| v5      |            2033-01-31 |  2033-06-30   |
"""

    assert events(SCHEDULE, realigned, rules) == []


def test_inserted_release_is_one_addition_per_cell_not_a_cascade(
    rules: PageRules,
) -> None:
    inserted = SCHEDULE.replace(
        "| v4 LTS |", "| v3.5 | 2031-09-30 | 2032-03-31 |\n| v4 LTS |"
    )

    assert events(SCHEDULE, inserted, rules) == [
        ("added", "v3.5: Active support until"),
        ("added", "v3.5: End of life"),
    ]


def test_added_and_dropped_columns_touch_only_their_cells(rules: PageRules) -> None:
    lines = SCHEDULE.splitlines()
    with_column = "\n".join(
        [
            *lines[:2],
            "| Release | Codename | Active support until | Security fixes until | End of life |",
            "|---|---|---|---|---|",
            "| v3 | Ash | 2031-01-31 | 2031-03-31 | 2031-06-30 |",
            "| v4 LTS | Birch | 2032-01-31 | 2032-03-31 | 2032-06-30 |",
            "| v5 | Cedar | 2033-01-31 | 2033-03-31 | 2033-06-30 |",
        ]
    )
    without_column = SCHEDULE.replace(" Active support until |", "").replace(
        "|---|---|---|", "|---|---|"
    )
    for release, support in (("v3", "2031-01-31"), ("v4 LTS", "2032-01-31")):
        without_column = without_column.replace(
            f"| {release} | {support} |", f"| {release} |"
        )
    without_column = without_column.replace("| v5 | 2033-01-31 |", "| v5 |")

    assert events(SCHEDULE, with_column, rules) == [
        ("added", "v3: Security fixes until"),
        ("added", "v4 LTS: Security fixes until"),
        ("added", "v5: Security fixes until"),
    ]
    assert events(SCHEDULE, without_column, rules) == [
        ("removed", "v3: Active support until"),
        ("removed", "v4 LTS: Active support until"),
        ("removed", "v5: Active support until"),
    ]


def test_slightly_renamed_row_is_an_edit_of_each_cell(rules: PageRules) -> None:
    renamed = SCHEDULE.replace("| v4 LTS |", "| v4 LTS (Iron) |").replace(
        "2032-06-30", "2032-09-30"
    )

    assert events(SCHEDULE, renamed, rules) == [
        ("edited", "v4 LTS (Iron): Active support until"),
        ("edited", "v4 LTS (Iron): End of life"),
        ("rescheduled", "v4 LTS (Iron): End of life"),
    ]


def test_renamed_row_never_takes_the_cells_of_another_release(
    rules: PageRules,
) -> None:
    # v4 LTS leaves and v6 arrives in the same edit: similar names, other numbers.
    swapped = SCHEDULE.replace(
        "| v4 LTS | 2032-01-31 | 2032-06-30 |", "| v6 LTS | 2034-01-31 | 2034-06-30 |"
    )

    assert events(SCHEDULE, swapped, rules) == [
        ("added", "v6 LTS: Active support until"),
        ("added", "v6 LTS: End of life"),
        ("removed", "v4 LTS: Active support until"),
        ("removed", "v4 LTS: End of life"),
    ]


TWO_TABLES = """# SDK support

## Python SDK

| Version | Released | End of support |
|---|---|---|
| 3.0 | 2031-01-06 | 2032-01-06 |

## Node SDK

| Version | Released | End of support |
|---|---|---|
| 3.0 | 2031-02-03 | 2032-02-03 |
"""


def test_same_row_key_in_two_tables_keeps_each_table_apart(rules: PageRules) -> None:
    # The two tables swap places and the Node end of support moves.
    python, node = TWO_TABLES.split("## Node SDK")
    swapped = (
        "# SDK support\n\n## Node SDK"
        + node.replace("2032-02-03", "2032-05-05").rstrip("\n")
        + "\n\n"
        + python.removeprefix("# SDK support\n\n")
    )

    before = parse(TWO_TABLES, rules)
    changes = compare(known(before), parse(swapped, rules)).changes

    assert [(c.kind, c.old.row_key, c.new.date) for c in changes] == [  # type: ignore[union-attr]
        (EventKind.RESCHEDULED, "node sdk / 3 0", date(2032, 5, 5))
    ]


def test_rescheduled_sentence_is_not_also_an_edit(rules: PageRules) -> None:
    before = "# Roadmap\n\n- Streaming exports arrive in Q3 2031\n"
    after = "# Roadmap\n\n- Streaming exports arrive in Q4 2031\n"

    assert events(before, after, rules) == [
        ("rescheduled", "Streaming exports arrive in Q4 2031")
    ]
