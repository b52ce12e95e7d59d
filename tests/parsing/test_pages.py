"""Sample pages and the entries a reader finds in them, side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PAGES
from tracker.errors import ParseError
from tracker.parsing import PageRules, detect_format, parse_page

CASES = sorted(path for path in PAGES.iterdir() if not path.name.endswith(".json"))


def expected_for(page: Path) -> list[dict[str, object]]:
    """The hand-written expectation next to a sample page."""
    stem = page.name.rsplit(".", 1)[0]
    return json.loads(
        (page.parent / f"{stem}.expected.json").read_text(encoding="utf-8")
    )


@pytest.mark.parametrize("page", CASES, ids=[path.name for path in CASES])
def test_sample_page_gives_expected_entries(page: Path, rules: PageRules) -> None:
    parsed = parse_page(
        page.read_text(encoding="utf-8"),
        page_format=detect_format(page.name),
        rules=rules,
    )
    expected = expected_for(page)

    assert [entry.title for entry in parsed.entries] == [
        item["title"] for item in expected
    ]
    for entry, want in zip(parsed.entries, expected, strict=True):
        due_at = (
            entry.due_at.isoformat().replace("+00:00", "Z") if entry.due_at else None
        )
        assert entry.status.value == want["status"], entry.title
        assert (entry.date.isoformat() if entry.date else None) == want["date"], (
            entry.title
        )
        assert due_at == want["due_at"], entry.title
        assert entry.precision.value == want["precision"], entry.title
        assert entry.details == want["details"], entry.title
        assert list(entry.links) == want.get("links", list(entry.links)), entry.title
        assert (entry.end.isoformat() if entry.end else None) == want.get("end"), (
            entry.title
        )
        if "details_markdown" in want:
            assert entry.details_markdown == want["details_markdown"], entry.title
        if "line" in want:
            assert entry.line == want["line"], entry.title
        for field in ("key", "row_key"):
            if field in want:
                assert getattr(entry, field) == want[field], entry.title
        if "warning" in want:
            assert any(str(want["warning"]) in warning for warning in entry.warnings)
        else:
            assert entry.warnings == (), entry.title


def test_page_without_table_is_an_error(rules: PageRules) -> None:
    with pytest.raises(ParseError, match="no table of dated changes"):
        parse_page(
            "# Changes\n\nNothing planned yet.\n", page_format="markdown", rules=rules
        )


def test_table_without_dates_is_an_error_naming_its_line(rules: PageRules) -> None:
    page = "# Deprecations\n\n| API | Replacement |\n|---|---|\n| v1 search | v2 search |\n"

    with pytest.raises(ParseError) as caught:
        parse_page(page, page_format="markdown", rules=rules)

    assert caught.value.line == 3
    assert "no date column" in str(caught.value)


def test_merge_conflict_marker_is_an_error_naming_its_line(rules: PageRules) -> None:
    page = (PAGES / "three-columns.md").read_text(encoding="utf-8")
    lines = page.splitlines()
    broken = "\n".join(
        [*lines[:5], "<<<<<<< HEAD", *lines[5:7], "=======", ">>>>>>> other"]
    )

    with pytest.raises(ParseError) as caught:
        parse_page(broken, page_format="markdown", rules=rules)

    assert caught.value.line == 6


def test_empty_status_table_gives_no_entries_but_no_error(rules: PageRules) -> None:
    page = "## Upcoming Changes\n\n| Date | Change |\n| --- | --- |\n\n## Completed Changes\n\n"

    assert parse_page(page, page_format="markdown", rules=rules).entries == ()


def test_repeated_titles_share_a_key(rules: PageRules) -> None:
    page = "## Upcoming\n\n| Date | Change |\n|--|--|\n| 2031-01-01 | Downtime |\n| 2031-02-01 | Downtime |\n"

    entries = parse_page(page, page_format="markdown", rules=rules).entries

    assert [entry.key for entry in entries] == ["downtime", "downtime"]


def test_reformatted_page_keeps_keys_and_words(rules: PageRules) -> None:
    pipe = "## Upcoming\n\n| Date | Change |\n|--|--|\n| May 6, 2031 | **Drop `delete\\_all`**<br><br>It goes. |\n"
    html = (
        "## Upcoming\n\n<table><tr><th>Date</th><th>Change</th></tr>"
        "<tr><td>May 6, 2031</td><td><strong>Drop <code>delete_all</code></strong> It goes.</td></tr></table>\n"
    )

    first = parse_page(pipe, page_format="markdown", rules=rules).entries[0]
    second = parse_page(html, page_format="markdown", rules=rules).entries[0]

    assert first.key == second.key == "drop delete_all"
    assert (first.date, first.details) == (second.date, second.details)


def test_terminal_escapes_and_scripts_in_page_text_are_dropped(
    rules: PageRules,
) -> None:
    page = (
        "## Upcoming\n\n| Date | Change |\n|--|--|\n"
        "| 2031-01-01 | **Evil \x1b[31mred\x1b[0m\x07 <script>alert(1)</script>title**"
        " more\x1b]0;owned\x07 text |\n"
    )

    entry = parse_page(page, page_format="markdown", rules=rules).entries[0]

    assert entry.title == "Evil [31mred[0m title"
    assert entry.details == "more]0;owned text"


@pytest.mark.parametrize("page_format", ["markdown", "html"])
def test_deeply_nested_page_is_a_parse_error_not_a_crash(
    rules: PageRules, page_format: str
) -> None:
    nested = "<span>" * 2000 + "deep" + "</span>" * 2000
    page = (
        f"## Upcoming\n\n| Date | Change |\n|--|--|\n| 2031-01-01 | {nested} |\n"
        if page_format == "markdown"
        else f"<h2>Upcoming</h2><table><tr><th>Date</th><th>Change</th></tr>"
        f"<tr><td>2031-01-01</td><td>{nested}</td></tr></table>"
    )

    with pytest.raises(ParseError, match="nests its elements too deeply"):
        parse_page(page, page_format=page_format, rules=rules)


def test_oversized_page_is_refused(rules: PageRules) -> None:
    row = "| 2031-01-01 | **Downtime**<br><br>" + "x" * 200 + " |\n"
    page = "## Upcoming\n\n| Date | Change |\n|--|--|\n" + row * 40_000

    with pytest.raises(ParseError, match="more than the 8,000,000"):
        parse_page(page, page_format="markdown", rules=rules)


def test_a_byte_order_mark_does_not_hide_the_first_heading(rules: PageRules) -> None:
    page = (
        "\ufeff## Completed changes\n\n| Date | Change |\n| --- | --- |\n"
        "| 2029-05-06 | **Old thing** Gone. |\n"
    )

    (entry,) = parse_page(page, page_format="markdown", rules=rules).entries

    assert (entry.title, entry.status.value, entry.date_text) == (
        "Old thing",
        "completed",
        "2029-05-06",
    )


def test_a_struck_out_date_gives_way_to_the_new_one(rules: PageRules) -> None:
    page = (
        "## Upcoming changes\n\n| Date | Change |\n| --- | --- |\n"
        "| ~~2031-05-06~~ 2031-06-01 | **Retire v1** Use v2. |\n"
        "| <del>May 1, 2031</del> June 2, 2031 | **Drop XML** Use JSON. |\n"
    )

    entries = parse_page(page, page_format="markdown", rules=rules).entries

    assert [(e.title, e.date_text, str(e.date), e.warnings) for e in entries] == [
        ("Retire v1", "2031-06-01", "2031-06-01", ()),
        ("Drop XML", "June 2, 2031", "2031-06-02", ()),
    ]
