"""Other shapes of change calendar tracked end to end: each sample page is
committed to a repository and synced, then re-sorted or reformatted and
synced again, which must record no event."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PAGES
from tests.test_cli import commit_page, git, invoke, write_config


def reverse_table_rows(text: str) -> str:
    """Reverse the body rows of every pipe table, and drop their padding."""
    out: list[str] = []
    rows: list[str] = []
    for line in [*text.splitlines(), ""]:
        is_row = line.startswith("|")
        if is_row and out and re.match(r"^\|[\s|:-]+\|$", out[-1]):
            rows.append(line)
            continue
        if rows:
            out.extend(re.sub(r"\s*\|\s*", "|", row) for row in reversed(rows))
            rows = []
        out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def reverse_sections(text: str) -> str:
    """Put the page's second-level sections in the opposite order."""
    head, *sections = text.split("\n## ")
    return "\n## ".join([head, *reversed([s.rstrip("\n") + "\n" for s in sections])])


def reverse_bullets(text: str) -> str:
    """Reverse each run of bullet items."""
    out: list[str] = []
    run: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("- "):
            run.append(line)
            continue
        out.extend(reversed(run))
        run = []
        out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def reflow_html(text: str) -> str:
    """Put every tag on a line of its own, indented."""
    return re.sub(r">\s*<", ">\n    <", text)


def swap_rst_rows(text: str) -> str:
    """Swap the two upcoming releases of the RST schedule."""
    first = next(line for line in text.splitlines() if line.startswith("4.2 "))
    second = next(line for line in text.splitlines() if line.startswith("4.3 "))
    return text.replace(first, "\0").replace(second, first).replace("\0", second)


EDITS: dict[str, Callable[[str], str]] = {
    "release-schedule.md": reverse_table_rows,
    "deprecations.md": reverse_table_rows,
    "changelog.md": reverse_sections,
    "roadmap.md": reverse_bullets,
    "sdk-support.html": reflow_html,
    "rst-schedule.rst": swap_rst_rows,
}


def expected_dated(page: str) -> set[tuple[str, str]]:
    """The (title, date) of every dated entry the sample's expectation lists."""
    expected = json.loads((PAGES / page).with_suffix(".expected.json").read_text())
    return {(item["title"], item["date"]) for item in expected if item["date"]}


def tracked(tmp_path: Path, page: str) -> tuple[Path, Path]:
    """A repository holding ``page`` and a config tracking it; synced once."""
    repo = tmp_path / "vendor"
    git("init", "--quiet", "--initial-branch=main", repo)
    commit_page(repo, (PAGES / page).read_text(encoding="utf-8"), "Add", path=page)
    config = write_config(
        tmp_path,
        f'[[sources]]\nname = "vendor"\nrepo = "{repo}"\nbranch = "main"\n'
        f'path = "{page}"\ntimezone = "America/New_York"\n',
    )
    code, _, err = invoke(config, "sync")
    assert code == 0, err
    return repo, config


def listed(config: Path) -> list[dict[str, str]]:
    code, out, err = invoke(config, "list", "--all", "--json")
    assert code == 0, err
    return list(json.loads(out))


def event_count(config: Path) -> int:
    code, out, err = invoke(config, "events", "--json")
    assert code == 0, err
    return len(json.loads(out))


@pytest.mark.parametrize("page", sorted(EDITS))
def test_a_page_of_each_shape_is_tracked_with_its_dates(
    tmp_path: Path, page: str
) -> None:
    _, config = tracked(tmp_path, page)

    dated = {
        (entry["title"], entry["date"]) for entry in listed(config) if entry["date"]
    }

    assert dated == expected_dated(page)


@pytest.mark.parametrize("page", sorted(EDITS))
def test_re_sorting_or_reformatting_records_no_event(tmp_path: Path, page: str) -> None:
    repo, config = tracked(tmp_path, page)
    before = event_count(config)
    original = (PAGES / page).read_text(encoding="utf-8")
    edited = EDITS[page](original)
    assert edited != original

    commit_page(repo, edited, "Reformat", path=page)
    code, out, err = invoke(config, "sync")

    assert code == 0, err
    assert "no events" in out
    assert event_count(config) == before


def test_a_release_inserted_mid_schedule_adds_only_its_own_dates(
    tmp_path: Path,
) -> None:
    repo, config = tracked(tmp_path, "release-schedule.md")
    before = event_count(config)
    page = (PAGES / "release-schedule.md").read_text(encoding="utf-8")
    v4 = next(line for line in page.splitlines() if line.startswith("| v4 LTS"))
    inserted = "| v4.5   | 2032-01-15           | 2032-07-01           | 2033-01-01  |"
    commit_page(
        repo,
        page.replace(v4, v4 + "\n" + inserted),
        "Add v4.5",
        path="release-schedule.md",
    )

    code, _, err = invoke(config, "sync")
    code_events, out, _ = invoke(config, "events", "--json")
    new = json.loads(out)[before:]

    assert code == code_events == 0, err
    assert sorted(
        (event["kind"], event["title"], event["new_date"]) for event in new
    ) == [
        ("added", "v4.5: Active support until", "2032-01-15"),
        ("added", "v4.5: End of life", "2033-01-01"),
        ("added", "v4.5: Security fixes until", "2032-07-01"),
    ]
