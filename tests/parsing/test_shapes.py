"""Pages of other shapes than one dated table, and the hints that steer reading."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from tests.conftest import PAGES
from tracker.cli import app
from tracker.errors import ParseError
from tracker.parsing import PageHints, PageRules, parse_page
from tracker.parsing.model import ParsedPage

NEW_YORK = ZoneInfo("America/New_York")
REFERENCE = datetime(2030, 6, 1, tzinfo=UTC)


def read(page: str, page_format: str = "markdown", **hints: object) -> ParsedPage:
    """Parse ``page`` with the sample rules and the given hints."""
    rules = PageRules.build(
        NEW_YORK,
        REFERENCE,
        hints=PageHints.build(**hints),  # type: ignore[arg-type]
    )
    return parse_page(page, page_format=page_format, rules=rules)


def test_deprecation_list_without_dates_is_a_parse_error_not_an_empty_page() -> None:
    page = (
        "# Deprecations\n\nThese features are deprecated:\n\n"
        "- The v1 search API\n- XML output\n- Basic auth for webhooks\n"
    )

    with pytest.raises(ParseError, match=r"^no table of dated changes found; "):
        read(page)


def test_table_whose_dates_are_all_not_applicable_gives_no_entry() -> None:
    page = (
        "## Upcoming\n\n| Release | Beta | End of life |\n|---|---|---|\n"
        "| v3 | 2031-01-01 | 2032-01-01 |\n| v4 | N/A | \u2014 |\n"
    )

    titles = [entry.title for entry in read(page).entries]

    assert titles == ["v3: Beta", "v3: End of life"]


def test_tables_win_over_dated_prose_on_the_same_page() -> None:
    page = (
        "# Changes\n\nWe review this page on 6 May 2031.\n\n## Upcoming\n\n"
        "| Date | Change |\n|---|---|\n| 2031-05-20 | Retire v1 |\n"
    )

    parsed = read(page)

    assert [entry.title for entry in parsed.entries] == ["Retire v1"]
    assert "left out dated items" in parsed.findings[-1].summary


def test_shapes_hint_reads_dated_prose_besides_tables() -> None:
    page = (
        "# Changes\n\n- Exports arrive in Q3 2031\n\n## Upcoming\n\n"
        "| Date | Change |\n|---|---|\n| 2031-05-20 | Retire v1 |\n"
    )

    parsed = read(page, shapes=["tables", "items"])

    assert [entry.title for entry in parsed.entries] == [
        "Exports arrive in Q3 2031",
        "Retire v1",
    ]


def test_sections_hint_reads_only_the_named_sections() -> None:
    page = (
        "# Roadmap\n\n## API\n\n- Bulk endpoints arrive in Q4 2031\n\n"
        "## Marketing\n\n- Launch party on 6 May 2031\n"
    )

    parsed = read(page, sections=["^API$"])

    assert [entry.title for entry in parsed.entries] == [
        "Bulk endpoints arrive in Q4 2031"
    ]


def test_tables_hint_reads_only_the_matching_table() -> None:
    page = (
        "## Upcoming\n\n| Date | Change |\n|---|---|\n| 2031-05-20 | Retire v1 |\n\n"
        "## Office hours\n\n| Date | Host |\n|---|---|\n| 2031-05-21 | Ana |\n"
    )

    parsed = read(page, tables=["Change"])

    assert [entry.title for entry in parsed.entries] == ["Retire v1"]


def test_key_and_date_column_hints_override_detection() -> None:
    # Without hints "Codename" would be the key and "Announced" a date column.
    page = (
        "| Codename | Version | Announced | Sunset |\n|---|---|---|---|\n"
        "| Ash | v3 | 2030-01-01 | 2031-01-01 |\n"
    )

    parsed = read(page, key_column="^version$", date_columns=["sunset"])

    assert [(entry.title, entry.date) for entry in parsed.entries] == [
        ("v3: Sunset", date(2031, 1, 1))
    ]
    assert parsed.entries[0].row_key == "v3"


def test_bad_hint_pattern_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"bad regular expression '\('"):
        PageHints.build(sections=["("])
    with pytest.raises(ValueError, match="unknown shape 'lists'"):
        PageHints.build(shapes=["lists"])


def test_findings_say_which_column_is_the_key_and_which_hold_dates() -> None:
    parsed = read((PAGES / "deprecations.md").read_text(encoding="utf-8"))

    kinds = [(finding.line, finding.kind) for finding in parsed.findings]
    table = next(f for f in parsed.findings if f.kind == "table")

    assert kinds[:3] == [(3, "clock"), (5, "section"), (7, "table")]
    assert "most cells of 'Announced' read as dates" in table.summary
    assert "most cells of 'Removal' read as dates" in table.summary
    assert "key column 'API'" in table.summary
    assert "status upcoming from its section" in table.summary


def test_findings_say_why_a_table_was_left_out() -> None:
    page = (
        "# Changes\n\n| API | Replacement |\n|---|---|\n| v1 | v2 |\n\n"
        "- Exports arrive in Q3 2031\n"
    )

    parsed = read(page)

    assert [entry.title for entry in parsed.entries] == ["Exports arrive in Q3 2031"]
    assert ("skipped", "table at line 3 has no date column") in [
        (finding.kind, finding.summary) for finding in parsed.findings
    ]


def test_rst_page_never_includes_files_or_raw_html(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("| 2031-01-01 | Leaked secret |\n", encoding="utf-8")
    page = (
        "Changes\n=======\n\n"
        f".. include:: {secret}\n\n"
        ".. raw:: html\n\n   <p>Raw launch on 6 May 2031.</p>\n\n"
        f".. csv-table:: Dates\n   :file: {secret}\n\n"
        "- Exports arrive in Q3 2031\n"
    )

    parsed = read(page, page_format="rst")

    assert [entry.title for entry in parsed.entries] == ["Exports arrive in Q3 2031"]
    assert parsed.entries[0].line == 13


def run_parse(*args: str) -> str:
    """Run ``tracker parse`` on the sample release schedule; return its output."""
    page = str(PAGES / "release-schedule.md")
    result = CliRunner().invoke(app, ["parse", page, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_parse_explain_shows_what_was_detected() -> None:
    output = run_parse("--timezone", "America/New_York", "--explain")

    assert "How the page was read:" in output
    assert "key column 'Release'" in output
    assert "days without a time are at 14:00 and read in UTC" in output


def test_parse_hint_options_fix_a_wrong_guess() -> None:
    output = run_parse("--date-column", "End of life", "--json")

    assert '"title": "v4 LTS: End of life"' in output
    assert "Active support" not in output
