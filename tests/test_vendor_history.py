"""The real 31-revision history of a vendor's change page, end to end.

The expected events below were read off the history by hand (``git log -p``
on the bundle): which rows were added, re-dated, moved between the page's
Upcoming and Completed sections, re-worded or dropped, and which commits
only re-formatted the page.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracker.cli import app

pytestmark = pytest.mark.database

DB_DOWNTIME = "Scheduled Database Downtime"
POST_ASYNC = "POST /inputs will only operate asynchronously"
DELETE_ASYNC = "DELETE /inputs will only operate asynchronously"
PATCH = "PATCH /inputs overwrite action change"
CROP = "image.crop argument will be deprecated"
FOCUS = "Deprecation of Focus Model"
FACE_OBJECT = "Deprecation of Face object from API"
FACE_TYPES = "Deprecation of Face model type names"
STATUS_CODES = "Consolidation of Input Related Status Codes"
# From this revision on the vendor wrote a stray "[" into the bold title.
STATUS_CODES_BRACKET = "[Consolidation of Input Related Status Codes"
STOP_FACE = "Stop returning Face object from API"
DEMOGRAPHICS = "Deprecation of Demographics Model"
TRAINING = "Model Training Do Not Wait For Inputs To Be Processed"
DELETE_ALL_NOTICE = "What you need to know"
DELETE_ALL = "Deprecation of delete_all option"
TYPE_OPTION = "Deprecation of type option"
# Markdown keeps a backslash inside a code span, so the page shows it.
NAMES_ESCAPED = "Deprecation of name and display\\_name"
NAMES = "Deprecation of name and display_name"
TYPE_FIELD = "Deprecation of Type field in the ModelType proto"

# Events of each revision, oldest first: (kind, title as the page gives it).
EXPECTED: list[list[tuple[str, str]]] = [
    # 1 69c3d1b: the page appears; what it lists is the baseline.
    [
        ("added", DB_DOWNTIME),
        ("added", POST_ASYNC),
        ("added", DELETE_ASYNC),
        ("added", PATCH),
    ],
    # 2 4a084ef: three changes slip from September 10 to 12.
    [
        ("rescheduled", POST_ASYNC),
        ("rescheduled", DELETE_ASYNC),
        ("rescheduled", PATCH),
    ],
    # 3 3e4a108: an HTML list rewritten as "<br>- " lines.
    [],
    # 4 bb761d3: the same list rewritten as a sentence.
    [],
    # 5 52c7b15: sections flipped; the downtime is done.
    [("moved", DB_DOWNTIME)],
    # 6 5e16960: POST went out on September 24, with a corrected status code.
    [("moved", POST_ASYNC), ("rescheduled", POST_ASYNC), ("edited", POST_ASYNC)],
    # 7 b647e69: DELETE went out on September 30.
    [("moved", DELETE_ASYNC), ("rescheduled", DELETE_ASYNC)],
    # 8 ff92082: crop announced; an update note on PATCH.
    [("added", CROP), ("edited", PATCH)],
    # 9 e2c2d64
    [("moved", CROP)],
    # 10 90c82f9
    [("added", FOCUS)],
    # 11 4422e82: PATCH slips from 2019-09-12 to 2020-02-03.
    [("rescheduled", PATCH)],
    # 12 08cbd4d: both done; the Upcoming table is left empty.
    [("moved", FOCUS), ("moved", PATCH)],
    # 13 2eeb569
    [("added", FACE_OBJECT), ("added", FACE_TYPES)],
    # 14 4586f16: the Face object change slips to February 27 and gains code
    # samples written as fenced blocks inside its table row.
    [("rescheduled", FACE_OBJECT), ("edited", FACE_OBJECT), ("moved", FACE_TYPES)],
    # 15 69ec2fd: the lone "|" closing that row is deleted.
    [],
    # 16 0deb7ab
    [("added", STATUS_CODES)],
    # 17 407161a: title wrapped in a link, code fences get a language.
    [("added", STOP_FACE), ("moved", STATUS_CODES_BRACKET), ("moved", FACE_OBJECT)],
    # 18 db32624: code samples replaced by a link.
    [("edited", FACE_OBJECT), ("moved", STOP_FACE), ("edited", STOP_FACE)],
    # 19 1b058d1: the page moves folder and is re-formatted by an editor.
    [],
    # 20 e373b6f: completed rows reversed; one change announced; "behaviour"
    # corrected to "behavior" in the crop change.
    [("added", DEMOGRAPHICS), ("edited", CROP)],
    # 21 c0a03a1
    [("added", TRAINING)],
    # 22 b522a01: whitespace only.
    [],
    # 23 57c0da0: an HTML table; one row dropped from Completed.
    [
        ("added", DELETE_ALL_NOTICE),
        ("moved", DEMOGRAPHICS),
        ("moved", TRAINING),
        ("removed", STOP_FACE),
    ],
    # 24 04aea3e
    [("removed", DELETE_ALL_NOTICE)],
    # 25 e7ceda3: lower-case month.
    [("added", DELETE_ALL)],
    # 26 c95ce32: "delete_all" escaped as "delete\_all".
    [],
    # 27 285f7a5: misspelt month "Novemeber".
    [("added", TYPE_OPTION)],
    # 28 feb4ba8: two changes filed straight under Completed.
    [("added", NAMES_ESCAPED), ("added", TYPE_FIELD)],
    # 29 f655a76: names back to Upcoming for "Mid January, 2022"; old dates
    # respelt ("Feb 3, 2020" -> "February 3, 2020. 9:00am ET") on the same day.
    [
        ("moved", NAMES),
        ("rescheduled", NAMES),
        ("edited", NAMES),
        ("rescheduled", TYPE_FIELD),
        ("edited", TYPE_FIELD),
        ("moved", TYPE_OPTION),
        ("moved", DELETE_ALL),
    ],
    # 30 98585d7: the vague date becomes January 20; one row dropped.
    [("rescheduled", NAMES), ("edited", NAMES), ("removed", TYPE_FIELD)],
    # 31 3b6ab59: links changed, text unchanged.
    [],
]
QUIET = [index + 1 for index, events in enumerate(EXPECTED) if not events]


def git(*args: str | Path) -> str:
    """Run git and return its output."""
    return subprocess.run(
        ["git", *map(str, args)], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def upstream(
    bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    """A clone of the vendor history and its commits, oldest first."""
    path = tmp_path_factory.mktemp("upstream") / "docs"
    git("clone", "--quiet", bundle, path)
    commits = git("-C", path, "rev-list", "--reverse", "HEAD").split()
    assert len(commits) == 31
    return path, commits


def make_remote(tmp_path: Path) -> Path:
    """An empty bare repository standing in for the vendor's."""
    remote = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", "--initial-branch=master", remote)
    git("-C", remote, "config", "uploadpack.allowFilter", "true")
    return remote


def write_config(tmp_path: Path, remote: Path, path: str) -> Path:
    """A config tracking the vendor page in ``remote``."""
    config = tmp_path / "tracker.toml"
    config.write_text(
        f"""
[tracker]
data_dir = "{tmp_path / "data"}"

[[sources]]
name = "clarifai"
repo = "file://{remote}"
branch = "master"
path = "{path}"
timezone = "America/New_York"
""",
        encoding="utf-8",
    )
    return config


def run(config: Path, *args: str) -> str:
    """Run the CLI in-process and return its output; fail on a non-zero exit."""
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def whole_history(upstream: tuple[Path, list[str]], tmp_path: Path) -> Path:
    """A config tracking a remote that holds the whole history at its tip."""
    clone, commits = upstream
    remote = make_remote(tmp_path)
    git("-C", clone, "push", "--quiet", remote, f"{commits[-1]}:refs/heads/master")
    # Packed with a reachability bitmap, as hosted repositories are.
    git("-C", remote, "repack", "--quiet", "-a", "-d", "--write-bitmap-index")
    return write_config(tmp_path, remote, "product-updates/upcoming-api-changes.md")


def events_by_revision(config: Path) -> dict[str, list[tuple[str, str]]]:
    """The stored events grouped by the commit they were found in."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for event in json.loads(run(config, "events", "--json")):
        grouped.setdefault(event["revision"], []).append(
            (event["kind"], event["title"])
        )
    return grouped


def ids_by_title(config: Path) -> dict[str, int]:
    """Every listed entry's id, by title."""
    listed = json.loads(run(config, "list", "--all", "--json"))
    return {entry["title"]: entry["id"] for entry in listed}


def test_sync_after_each_commit_reports_exactly_the_real_changes(
    upstream: tuple[Path, list[str]], tmp_path: Path
) -> None:
    clone, commits = upstream
    remote = make_remote(tmp_path)
    config = write_config(tmp_path, remote, "upcoming-api-changes.md")

    for index, commit in enumerate(commits, start=1):
        git("-C", clone, "push", "--quiet", remote, f"{commit}:refs/heads/master")
        summary = run(config, "sync")
        grouped = events_by_revision(config)

        assert Counter(grouped.get(commit, [])) == Counter(EXPECTED[index - 1]), (
            f"revision {index} {commit[:7]}"
        )
        if index in QUIET:
            assert "no events" in summary, summary

    first = json.loads(run(config, "events", "--json"))[0]
    assert first["baseline"] is True
    assert first["revision"] == commits[0]


def test_backfill_replays_the_same_events(
    upstream: tuple[Path, list[str]], whole_history: Path
) -> None:
    commits, config = upstream[1], whole_history

    summary = run(config, "backfill")
    grouped = events_by_revision(config)

    assert "replayed 31 revisions" in summary
    for index, commit in enumerate(commits, start=1):
        assert Counter(grouped.get(commit, [])) == Counter(EXPECTED[index - 1]), (
            f"revision {index} {commit[:7]}"
        )


def test_backfill_after_a_first_sync_explains_its_baseline(
    upstream: tuple[Path, list[str]], whole_history: Path
) -> None:
    commits, config = upstream[1], whole_history
    run(config, "sync")
    ids_before = ids_by_title(config)

    run(config, "backfill")
    first_pass = events_by_revision(config)
    run(config, "backfill")

    assert events_by_revision(config) == first_pass
    for index, commit in enumerate(commits, start=1):
        assert Counter(first_pass.get(commit, [])) == Counter(EXPECTED[index - 1]), (
            f"revision {index}"
        )
    assert ids_by_title(config) == ids_before


def test_last_revision_lists_one_overdue_upcoming_change(whole_history: Path) -> None:
    config = whole_history
    run(config, "sync")

    listed = json.loads(run(config, "list", "--upcoming", "--json"))
    table = run(config, "list", "--upcoming")

    assert [(e["title"], e["date"], e["due_at"], e["precision"]) for e in listed] == [
        (NAMES, "2022-01-20", "2022-01-20T05:00:00Z", "day")
    ]
    assert "overdue" in table
    assert len(json.loads(run(config, "list", "--completed", "--json"))) == 13


def test_example_config_dry_run_shows_the_reminders_due_then(
    bundle: Path, tmp_path: Path
) -> None:
    example = (Path(__file__).parents[1] / "config.example.toml").read_text(
        encoding="utf-8"
    )
    config = tmp_path / "tracker.toml"
    config.write_text(
        example.replace(
            "[tracker]\n", f'[tracker]\ndata_dir = "{tmp_path / "data"}"\n', 1
        ).replace(
            'repo = "../shared/fixtures/clarifai-upcoming-history.bundle"',
            f'repo = "{bundle}"',
        ),
        encoding="utf-8",
    )
    run(config, "backfill")

    shown = json.loads(
        run(config, "remind", "--dry-run", "--at", "2020-02-05T14:00:00Z", "--json")
    )

    # Both were announced on 2020-02-03 for 2020-02-12 9:00am ET (14:00Z):
    # seven days before is exactly this moment.
    assert sorted((item["kind"], item["title"], item["status"]) for item in shown) == [
        ("reminder", FACE_TYPES, "would send"),
        ("reminder", FACE_OBJECT, "would send"),
    ]
    assert json.loads(run(config, "outbox", "--json")) == []
