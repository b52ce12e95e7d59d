"""The command line as a user meets it: output, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from tests.conftest import PAGES
from tracker.cli import app

pytestmark = pytest.mark.database

PAGE = PAGES / "two-column-bold-titles.md"


def git(*args: str | Path) -> str:
    """Run git and return its output."""
    return subprocess.run(
        ["git", *map(str, args)], check=True, capture_output=True, text=True
    ).stdout


def commit_page(repo: Path, text: str, message: str, path: str = "changes.md") -> str:
    """Write the page and commit it; return the commit id."""
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text, encoding="utf-8")
    git("-C", repo, "add", "-A")
    git(
        "-C",
        repo,
        "-c",
        "user.name=Docs",
        "-c",
        "user.email=docs@example.com",
        "commit",
        "--quiet",
        "-m",
        message,
    )
    return git("-C", repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def vendor(tmp_path: Path) -> Path:
    """A vendor docs repository with the sample page committed."""
    repo = tmp_path / "vendor"
    git("init", "--quiet", "--initial-branch=main", repo)
    commit_page(repo, PAGE.read_text(encoding="utf-8"), "Add change page")
    return repo


def write_config(tmp_path: Path, body: str) -> Path:
    """A config file with a data folder in ``tmp_path``."""
    config = tmp_path / "tracker.toml"
    config.write_text(
        f'[tracker]\ndata_dir = "{tmp_path / "data"}"\n{body}', encoding="utf-8"
    )
    return config


def source_config(tmp_path: Path, repo: Path | str, path: str = "changes.md") -> Path:
    """A config tracking ``path`` in ``repo``."""
    return write_config(
        tmp_path,
        f'[[sources]]\nname = "widgets"\nrepo = "{repo}"\nbranch = "main"\n'
        f'path = "{path}"\ntimezone = "America/New_York"\n',
    )


def invoke(config: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: exit code, stdout, stderr."""
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def listed_titles(config: Path) -> list[str]:
    code, out, _ = invoke(config, "list", "--all", "--json")
    assert code == 0
    return [entry["title"] for entry in json.loads(out)]


def test_first_sync_records_baseline_and_lists_upcoming_with_days_left(
    vendor: Path, tmp_path: Path
) -> None:
    config = source_config(tmp_path, vendor)

    code, out, _ = invoke(config, "sync")
    assert code == 0
    assert out.startswith("widgets: first sync, 5 entries recorded as baseline")

    with time_machine.travel("2030-11-18T12:00:00Z", tick=False):
        code, out, _ = invoke(config, "list", "--upcoming", "--json")
        table = invoke(config, "list", "--upcoming")[1]
    assert code == 0
    entries = json.loads(out)
    assert [e["title"] for e in entries] == [
        "Rotate signing keys",
        "Drop the legacy_id field",
        "Retire the v1 widgets endpoint",
    ]
    assert entries[0] == {
        "id": entries[0]["id"],
        "source": "widgets",
        "status": "upcoming",
        "title": "Rotate signing keys",
        "date": "2030-11-20",
        "date_text": "November 20, 2030. 9:00am ET",
        "due_at": "2030-11-20T14:00:00Z",
        "precision": "minute",
        "end_date": None,
        "details": "Scheduled downtime of about 5 minutes for:\n- Webhooks\n- Search",
    }
    assert "in 2 days" in table


def test_within_filters_by_date(vendor: Path, tmp_path: Path) -> None:
    config = source_config(tmp_path, vendor)
    invoke(config, "sync")

    with time_machine.travel("2030-11-18T12:00:00Z", tick=False):
        code, out, _ = invoke(config, "list", "--within", "3d", "--json")

    assert code == 0
    assert [e["title"] for e in json.loads(out)] == ["Rotate signing keys"]


def test_reschedule_is_an_event_with_old_and_new_dates(
    vendor: Path, tmp_path: Path
) -> None:
    config = source_config(tmp_path, vendor)
    invoke(config, "sync")
    page = PAGE.read_text(encoding="utf-8").replace("March 3rd 2031", "April 7th 2031")
    commit = commit_page(vendor, page, "Retirement slips")

    code, out, _ = invoke(config, "sync")
    assert code == 0
    assert out.startswith("widgets: 1 rescheduled; 5 entries")

    events = json.loads(invoke(config, "events", "--json")[1])
    slipped = [e for e in events if e["kind"] == "rescheduled"]
    assert len(slipped) == 1
    assert {
        k: slipped[0][k]
        for k in (
            "title",
            "old_date",
            "new_date",
            "old_due_at",
            "new_due_at",
            "revision",
        )
    } == {
        "title": "Retire the v1 widgets endpoint",
        "old_date": "2031-03-03",
        "new_date": "2031-04-07",
        "old_due_at": "2031-03-03T05:00:00Z",
        "new_due_at": "2031-04-07T04:00:00Z",
        "revision": commit,
    }


def test_show_prints_details_and_history(vendor: Path, tmp_path: Path) -> None:
    config = source_config(tmp_path, vendor)
    invoke(config, "sync")
    completed = json.loads(invoke(config, "list", "--completed", "--json")[1])
    # Soonest first: "Mid January, 2030" is read as January 2030.
    assert [e["title"] for e in completed] == [
        "Consolidate status codes",
        "Deprecate the sort parameter",
    ]
    entry = completed[1]

    code, out, _ = invoke(config, "show", str(entry["id"]), "--json")

    assert code == 0
    shown = json.loads(out)
    assert shown["title"] == "Deprecate the sort parameter"
    assert shown["links"] == ["#sort"]
    assert [e["kind"] for e in shown["events"]] == ["added"]


def test_unparseable_revision_is_an_error_and_keeps_the_stored_state(
    vendor: Path, tmp_path: Path
) -> None:
    config = source_config(tmp_path, vendor)
    invoke(config, "sync")
    before = listed_titles(config)
    commit = commit_page(
        vendor, "# Changes\n\nWe are rewriting this page.\n", "Rewrite"
    )

    code, out, err = invoke(config, "sync")

    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(
        f"error: widgets: cannot read changes.md at commit {commit[:12]}"
    )
    assert listed_titles(config) == before
    assert [e["kind"] for e in json.loads(invoke(config, "events", "--json")[1])] == [
        "added"
    ] * 5


def test_mass_removal_is_refused_unless_accepted(vendor: Path, tmp_path: Path) -> None:
    config = source_config(tmp_path, vendor)
    invoke(config, "sync")
    page = (
        "## Upcoming Changes\n\n| Date | Change |\n| ---- | ------ |\n"
        "| March 3rd 2031 | **Retire the v1 widgets endpoint**<br><br>"
        "Calls to `GET /v1/widgets` will return 410. Use `/v2/widgets`. |\n"
    )
    commit_page(vendor, page, "Prune")

    code, _, err = invoke(config, "sync")
    assert code == 1
    assert "would remove 4 of 5 entries" in err
    assert len(listed_titles(config)) == 5

    code, out, _ = invoke(config, "sync", "--accept-removals")
    assert code == 0
    assert "4 removed" in out
    assert listed_titles(config) == ["Retire the v1 widgets endpoint"]


def test_missing_path_is_an_error_naming_it(vendor: Path, tmp_path: Path) -> None:
    config = source_config(tmp_path, vendor, path="docs/nowhere.md")

    code, _out, err = invoke(config, "sync")

    assert code == 1
    assert err.count("\n") == 1
    assert "docs/nowhere.md" in err and "check `path`" in err


def test_unreachable_repository_is_an_error_and_keeps_the_stored_state(
    vendor: Path, tmp_path: Path
) -> None:
    config = source_config(tmp_path, vendor)
    invoke(config, "sync")
    before = listed_titles(config)
    config = source_config(tmp_path, tmp_path / "gone")

    code, _, err = invoke(config, "sync")

    assert code == 1
    assert err.startswith("error: widgets: cannot reach repository")
    assert err.count("\n") == 1
    assert listed_titles(config) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[[sources]]\nname = "a"\nrepo = "/r"\npath = "p.md"\nbrnach = "main"\n',
            "unknown key [[sources]] 'a' brnach; did you mean 'branch'?",
        ),
        (
            '[[sources]]\nname = "a"\nrepo = "/r"\n',
            "[[sources]] 'a': a git source needs path (or type = \"feed\" with url)",
        ),
        (
            '[[sources]]\nname = "a"\ntype = "feed"\nurl = "ftp://x/feed"\n',
            "'ftp://x/feed' is not an http(s) URL",
        ),
        (
            '[[sources]]\nname = "a"\nrepo = "/r"\npath = "p.md"\ninterval = "0m"\n',
            "interval '0m' is too short",
        ),
        (
            '[[sources]]\nname = "a"\nrepo = "/r"\npath = "p.md"\ncron = "0 0 31 2 *"\n',
            "cron expression '0 0 31 2 *' never fires",
        ),
        (
            '[[sources]]\nname = "a"\nrepo = "ext::sh -c touch% /tmp/x"\npath = "p.md"\n',
            "remote helper",
        ),
        (
            '[[sources]]\nname = "a"\nrepo = "/r"\npath = "p.md"\ntimezone = "Mars/Base"\n',
            "unknown time zone 'Mars/Base'",
        ),
        (
            '[databse]\nurl = "sqlite://"\n',
            "unknown key 'databse'; did you mean 'database'?",
        ),
        ("[[sources]\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(
    tmp_path: Path, body: str, message: str
) -> None:
    config = write_config(tmp_path, body)

    code, out, err = invoke(config, "sync")

    assert code == 2
    assert out == ""
    assert err.startswith(f"error: config {config}") or err.startswith("error: config")
    assert message in err
    assert err.count("\n") == 1


def test_parse_shows_a_local_page(tmp_path: Path) -> None:
    code, out, _err = invoke(
        tmp_path / "unused.toml",
        "parse",
        str(PAGE),
        "--timezone",
        "America/New_York",
        "--json",
    )

    assert code == 0
    entries = json.loads(out)
    assert len(entries) == 5
    assert entries[2]["warnings"] == ["misspelt month 'Novemeber' read as November"]


def test_parse_of_a_page_without_table_is_a_clear_error(tmp_path: Path) -> None:
    page = tmp_path / "notes.md"
    page.write_text("# Notes\n\nNothing here.\n", encoding="utf-8")

    code, _, err = invoke(tmp_path / "unused.toml", "parse", str(page))

    assert code == 1
    assert err.startswith(f"error: {page}: no table of dated changes found; ")
    assert err.count("\n") == 1


def test_console_script_runs_as_a_subprocess(vendor: Path, tmp_path: Path) -> None:
    config = source_config(tmp_path, vendor)

    done = subprocess.run(
        [sys.executable, "-m", "tracker", "--config", str(config), "sync"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("widgets: first sync, 5 entries")


def test_a_small_page_emptied_at_once_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "vendor"
    git("init", "--quiet", "--initial-branch=main", repo)
    header = "## Upcoming\n\n| Date | Change |\n|--|--|\n"
    commit_page(repo, header + "| 2031-01-01 | A |\n| 2031-02-01 | B |\n", "Two")
    config = source_config(tmp_path, repo)
    invoke(config, "sync")
    commit_page(repo, header, "Emptied")

    code, _, err = invoke(config, "sync")

    assert code == 1
    assert "would remove 2 of 2 entries" in err
    assert listed_titles(config) == ["A", "B"]


def test_one_broken_source_does_not_stop_the_others(
    vendor: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    git("init", "--quiet", "--initial-branch=main", broken)
    nested = "<span>" * 2000 + "x" + "</span>" * 2000
    commit_page(
        broken,
        f"## Upcoming\n\n| Date | Change |\n|--|--|\n| 2031-01-01 | {nested} |\n",
        "Deep",
    )
    config = write_config(
        tmp_path,
        f'[[sources]]\nname = "broken"\nrepo = "{broken}"\npath = "changes.md"\n'
        f'[[sources]]\nname = "widgets"\nrepo = "{vendor}"\npath = "changes.md"\n',
    )

    code, out, err = invoke(config, "sync")

    assert code == 1
    assert err.startswith("error: broken: cannot read changes.md at commit")
    assert "nests its elements too deeply" in err
    assert out.startswith("widgets: first sync, 5 entries")


def test_stored_text_is_printed_without_terminal_escapes(
    vendor: Path, tmp_path: Path
) -> None:
    from sqlmodel import select

    from tracker.config import load_config
    from tracker.store.db import open_engine, session_scope
    from tracker.store.models import Entry

    config = source_config(tmp_path, vendor)
    invoke(config, "sync")
    with session_scope(open_engine(load_config(config).database_url)) as session:
        row = session.exec(
            select(Entry).where(Entry.title == "Rotate signing keys")
        ).one()
        row.title = "Rotate \x1b]0;owned\x07keys [bold]now[/bold]"
        entry_id = row.id

    listing = invoke(config, "list", "--all")[1]
    shown = invoke(config, "show", str(entry_id))[1]

    for output in (listing, shown):
        assert "\x1b" not in output and "\x07" not in output
    assert "Rotate ]0;ownedkeys [bold]now[/bold]" in shown


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--within", "3000000d"],
        ["events", "--since", "99999999999999999999d"],
        ["show", "99999999999999999999999"],
        ["list", "--within", ""],
    ],
)
def test_absurd_arguments_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    config = write_config(tmp_path, "")

    code, _, err = invoke(config, *args)

    assert code == 2
    assert "Traceback" not in err
    assert "Error:" in err


@pytest.mark.sqlite_only
def test_relative_sqlite_url_is_relative_to_the_config_file(
    vendor: Path, tmp_path: Path
) -> None:
    config = tmp_path / "conf" / "tracker.toml"
    config.parent.mkdir()
    config.write_text(
        '[database]\nurl = "sqlite:///state/tracker.db"\n'
        f'[[sources]]\nname = "widgets"\nrepo = "{vendor}"\npath = "changes.md"\n'
        f'[tracker]\ndata_dir = "{tmp_path / "data"}"\n',
        encoding="utf-8",
    )

    assert invoke(config, "sync")[0] == 0
    assert (tmp_path / "conf" / "state" / "tracker.db").exists()


@pytest.mark.sqlite_only
def test_database_without_its_driver_is_one_line(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, '[database]\nurl = "mysql+mysqldb://u:secret@127.0.0.1:9/db"\n'
    )

    code, _, err = invoke(config, "list")

    assert code == 1
    assert err.startswith("error: no driver for database url scheme 'mysql+mysqldb'")
    assert err.count("\n") == 1
    assert "secret" not in err


def test_run_without_sources_refuses_to_start(tmp_path: Path) -> None:
    config = write_config(tmp_path, "")

    code, _, err = invoke(config, "run")

    assert code == 2
    assert (
        err == f"error: no [[sources]] in {config}; add one (see config.example.toml)\n"
    )


def test_a_revision_backfill_skips_stays_new_for_the_next_sync(
    vendor: Path, tmp_path: Path
) -> None:
    config = source_config(tmp_path, vendor)
    first = git("-C", vendor, "rev-parse", "HEAD").strip()
    commit_page(vendor, drop_all_but_rotate(), "Drop most changes")

    code, out, _ = invoke(config, "backfill")
    refused = invoke(config, "sync")
    accepted = invoke(config, "sync", "--accept-removals")

    assert code == 0
    assert f"(commit {first[:12]}" in out
    assert refused[0] == 1 and "would remove" in refused[2]
    assert accepted[0] == 0
    assert listed_titles(config) == ["Rotate signing keys"]


def drop_all_but_rotate() -> str:
    """The sample page with every change but "Rotate signing keys" gone."""
    return (
        "\n".join(
            line
            for line in PAGE.read_text(encoding="utf-8").splitlines()
            if not line.startswith("| ")
            or any(part in line for part in ("Rotate signing keys", "Date", "----"))
        )
        + "\n"
    )


def test_backfill_keeps_removals_that_a_sync_accepted(
    vendor: Path, tmp_path: Path
) -> None:
    config = source_config(tmp_path, vendor)
    invoke(config, "sync")
    commit_page(vendor, drop_all_but_rotate(), "Drop most changes")
    assert invoke(config, "sync")[0] == 1  # refused: most entries would go
    assert invoke(config, "sync", "--accept-removals")[0] == 0
    before = listed_titles(config)

    code, out, err = invoke(config, "backfill")

    assert code == 0, err
    assert "skipped" not in out + err
    assert listed_titles(config) == before == ["Rotate signing keys"]


def test_backfill_refuses_a_history_that_starts_after_stored_revisions(
    vendor: Path, tmp_path: Path
) -> None:
    invoke(source_config(tmp_path, vendor), "sync")
    git("-C", vendor, "rm", "--quiet", "changes.md")
    git(
        "-C",
        vendor,
        "-c",
        "user.name=Docs",
        "-c",
        "user.email=docs@example.com",
        "commit",
        "--quiet",
        "-m",
        "Remove the page",
    )
    commit_page(
        vendor,
        PAGE.read_text(encoding="utf-8"),
        "Bring it back",
        path="docs/changes.md",
    )
    config = source_config(tmp_path, vendor, path="docs/changes.md")
    assert invoke(config, "sync")[0] == 0
    before = invoke(config, "events", "--json")[1]

    code, _, err = invoke(config, "backfill")

    assert code == 1
    assert "the page was probably deleted and added again" in err
    assert err.count("\n") == 1
    assert invoke(config, "events", "--json")[1] == before


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ('reminders = ["24h", "1d"]', "'24h' and '1d' are the same lead time"),
        ('reminders = ["7x"]', "bad duration '7x'"),
        ('reminder_time = "9:00"', "bad time of day '9:00'"),
        ('sources = ["nope"]', "names unknown source 'nope' in its sources"),
        ("remniders = []", "did you mean 'reminders'?"),
    ],
)
def test_bad_channel_config_is_one_line(
    tmp_path: Path, channel: str, message: str
) -> None:
    config = write_config(
        tmp_path,
        '[[sources]]\nname = "a"\nrepo = "/r"\npath = "p.md"\n'
        f'[[channels]]\nname = "team"\ntype = "slack"\nchannel = "C1"\ntoken_env = "T"\n{channel}\n',
    )

    code, _, err = invoke(config, "list")

    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_an_smtp_login_in_clear_is_refused(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        '[[channels]]\nname = "mail"\ntype = "email"\nhost = "127.0.0.1"\nsecurity = "none"\n'
        'username_env = "U"\npassword_env = "P"\nfrom = "t@example.com"\nto = ["a@example.com"]\n',
    )

    code, _, err = invoke(config, "list")

    assert code == 2
    assert "would send its SMTP password in clear" in err


@pytest.mark.parametrize(
    "to",
    [
        "a@example.com, b@example.com",
        "a@example.com\r\nBcc: x@example.com",
        "not-an-address",
    ],
)
def test_recipient_lists_and_header_tricks_are_refused(tmp_path: Path, to: str) -> None:
    config = write_config(
        tmp_path,
        '[[channels]]\nname = "mail"\ntype = "email"\nhost = "127.0.0.1"\n'
        f'from = "t@example.com"\nto = [{json.dumps(to)}]\n',
    )

    code, _, err = invoke(config, "list")

    assert code == 2
    assert "is not a mail address" in err


def test_status_shows_each_source_and_the_outbox(vendor: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f'[[sources]]\nname = "widgets"\nrepo = "{vendor}"\npath = "changes.md"\n'
        f'[[sources]]\nname = "gone"\nrepo = "{tmp_path / "nowhere"}"\npath = "changes.md"\n',
    )
    head = git("-C", vendor, "rev-parse", "HEAD").strip()
    invoke(config, "sync")

    code, out, _ = invoke(config, "status", "--json")

    assert code == 0
    report = json.loads(out)
    widgets, gone = report["sources"]
    assert (
        widgets["source"],
        widgets["revision"],
        widgets["consecutive_failures"],
    ) == ("widgets", head, 0)
    assert widgets["last_error"] is None
    assert (gone["source"], gone["revision"], gone["consecutive_failures"]) == (
        "gone",
        None,
        1,
    )
    assert gone["last_error"].startswith("gone: cannot reach repository")
    assert report["outbox"] == {"pending": 0, "sending": 0, "failed": 0}
    assert "outbox: 0 pending, 0 sending, 0 failed" in invoke(config, "status")[1]


def test_a_command_group_without_its_command_shows_its_help() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "tracker", "db"], capture_output=True, text=True
    )

    assert shown.returncode == 2
    assert "Traceback" not in shown.stderr
    assert "upgrade" in shown.stdout + shown.stderr
