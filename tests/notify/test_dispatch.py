"""Reminders, alerts and digests end to end: sync, outbox, real servers.

The clock is moved with time-machine; the messages go through slack_sdk to
a Slack Web API server on loopback and through smtplib to aiosmtpd.
"""

from __future__ import annotations

import email
import json
import subprocess
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
import time_machine
from sqlmodel import Session, select
from typer.testing import CliRunner

from tests.notify.slack_api import TOKEN as SLACK_TOKEN
from tests.notify.slack_api import SlackApiServer
from tests.notify.smtp_server import RunningServer
from tracker import outbox
from tracker.cli import app
from tracker.config import Channel, load_config
from tracker.dispatch import build_notifier, dispatch
from tracker.notify.base import Message, Notifier, Receipt
from tracker.store.db import open_engine
from tracker.store.models import Entry, Notification

pytestmark = pytest.mark.database

TOKEN = SLACK_TOKEN
HEADER = "## Upcoming Changes\n\n| Date | Change |\n|---|---|\n"


def git(*args: str | Path) -> str:
    return subprocess.run(
        ["git", *map(str, args)], check=True, capture_output=True, text=True
    ).stdout


def commit(repo: Path, text: str, when: datetime) -> str:
    """Commit the page with the given commit time."""
    (repo / "changes.md").write_text(text, encoding="utf-8")
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S+0000")
    env_args = ["-c", "user.name=Docs", "-c", "user.email=docs@example.com"]
    git("-C", repo, "add", "-A")
    subprocess.run(
        ["git", "-C", str(repo), *env_args, "commit", "--quiet", "-m", "Update"],
        check=True,
        env={
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
    )
    return git("-C", repo, "rev-parse", "HEAD").strip()


def write_config(
    tmp_path: Path,
    repo: Path | str,
    path: str,
    slack: SlackApiServer,
    smtp: RunningServer | None = None,
    extra: str = "",
) -> Path:
    config = tmp_path / "tracker.toml"
    mail = (
        f'\n[[channels]]\nname = "mail"\ntype = "email"\nhost = "127.0.0.1"\nport = {smtp.port}\n'
        'security = "none"\nfrom = "tracker@example.com"\nto = ["team@example.com"]\n'
        'reminders = ["7d", "1d"]\ntimezone = "America/New_York"\n'
        if smtp
        else ""
    )
    config.write_text(
        f'[tracker]\ndata_dir = "{tmp_path / "data"}"\n\n'
        f'[[sources]]\nname = "vendor"\nrepo = "{repo}"\nbranch = "master"\npath = "{path}"\n'
        'timezone = "America/New_York"\n\n'
        f'[[channels]]\nname = "team"\ntype = "slack"\nchannel = "C0TRACKER"\n'
        f'token_env = "TRACKER_TEST_SLACK_TOKEN"\nbase_url = "{slack.base_url}"\n'
        f'reminders = ["7d", "1d"]\ntimezone = "America/New_York"\n{extra}{mail}',
        encoding="utf-8",
    )
    return config


def run(config: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    assert result.exit_code == code, result.output
    return result.stdout


def rows(config: Path) -> list[Notification]:
    settings = load_config(config)
    with Session(open_engine(settings.database_url)) as session:
        return list(session.exec(select(Notification).order_by(Notification.id)).all())


START = datetime(2031, 1, 1, tzinfo=UTC)  # a Wednesday


def tracked(
    vendor: Path,
    tmp_path: Path,
    slack: SlackApiServer,
    rows: str,
    smtp: RunningServer | None = None,
    extra: str = "",
) -> Path:
    """Commit a page with ``rows`` at START, sync it and send what is due then.

    The first sync's summary is sent, so a test starts from a quiet outbox.
    """
    commit(vendor, HEADER + rows, START)
    config = write_config(tmp_path, vendor, "changes.md", slack, smtp, extra=extra)
    with time_machine.travel(START, tick=False):
        run(config, "sync")
        run(config, "remind")
    return config


def entry_titles(config: Path) -> dict[int, str]:
    """Every stored entry's title by id, removed ones included."""
    settings = load_config(config)
    with Session(open_engine(settings.database_url)) as session:
        return {row.id or 0: row.title for row in session.exec(select(Entry)).all()}


def next_due(config: Path) -> datetime | None:
    settings = load_config(config)
    with Session(open_engine(settings.database_url)) as session:
        return outbox.next_due(session)


@pytest.fixture(autouse=True)
def slack_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_TEST_SLACK_TOKEN", TOKEN)


@pytest.fixture
def vendor(tmp_path: Path) -> Path:
    repo = tmp_path / "vendor"
    git("init", "--quiet", "--initial-branch=master", repo)
    return repo


# Reminders a subscriber with lead times 7d and 1d, in New York, gets over
# the vendor history: read off the history by hand (the revision that set
# each date, the lead times that were still ahead then). 9:00am ET is 13:00Z
# in summer and 14:00Z in winter; day-only dates are reminded at 09:00.
EXPECTED_REMINDERS = [
    ("1d", "Scheduled Database Downtime", "2019-09-10T13:00"),
    ("1d", "POST /inputs will only operate asynchronously", "2019-09-11T13:00"),
    ("1d", "DELETE /inputs will only operate asynchronously", "2019-09-11T13:00"),
    ("1d", "PATCH /inputs overwrite action change", "2019-09-11T13:00"),
    ("7d", "image.crop argument will be deprecated", "2019-11-13T14:00"),
    ("1d", "image.crop argument will be deprecated", "2019-11-19T14:00"),
    ("1d", "Deprecation of Focus Model", "2020-01-31T14:00"),
    ("1d", "PATCH /inputs overwrite action change", "2020-02-02T14:00"),
    ("7d", "Deprecation of Face object from API", "2020-02-05T14:00"),
    ("7d", "Deprecation of Face model type names", "2020-02-05T14:00"),
    ("1d", "Deprecation of Face object from API", "2020-02-11T14:00"),
    ("1d", "Deprecation of Face model type names", "2020-02-11T14:00"),
    ("7d", "Deprecation of Face object from API", "2020-02-20T14:00"),
    # Titled as the page titles it now, with the vendor's stray "[".
    ("1d", "[Consolidation of Input Related Status Codes", "2020-02-23T14:00"),
    ("1d", "Deprecation of Face object from API", "2020-02-26T14:00"),
    ("7d", "Stop returning Face object from API", "2020-03-25T13:00"),
    ("1d", "Stop returning Face object from API", "2020-03-31T13:00"),
    ("7d", "Deprecation of Demographics Model", "2020-10-09T13:00"),
    ("7d", "Model Training Do Not Wait For Inputs To Be Processed", "2020-10-13T13:00"),
    ("1d", "Deprecation of Demographics Model", "2020-10-15T13:00"),
    ("1d", "Model Training Do Not Wait For Inputs To Be Processed", "2020-10-19T13:00"),
    ("1d", "Deprecation of delete_all option", "2021-02-11T14:00"),
]


def run_reminders_until(config: Path, until: datetime) -> None:
    """Wake up at every due time before ``until``, as the daemon would."""
    while (due := next_due(config)) is not None and due < until:
        with time_machine.travel(due, tick=False):
            run(config, "remind")


def test_vendor_history_gives_each_reminder_once_at_its_time(
    bundle: Path, tmp_path: Path, slack_api: SlackApiServer, plain_smtp: RunningServer
) -> None:
    upstream = tmp_path / "upstream"
    git("clone", "--quiet", bundle, upstream)
    commits = git("-C", upstream, "log", "--reverse", "--format=%H %ct").split("\n")
    remote = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", "--initial-branch=master", remote)
    config = write_config(
        tmp_path, f"file://{remote}", "upcoming-api-changes.md", slack_api, plain_smtp
    )

    for line in filter(None, commits):
        sha, stamp = line.split()
        at = datetime.fromtimestamp(int(stamp), UTC)
        run_reminders_until(config, at)
        with time_machine.travel(at, tick=False):
            git("-C", upstream, "push", "--quiet", remote, f"{sha}:refs/heads/master")
            run(config, "sync")
            run(config, "remind")
    run_reminders_until(config, datetime(2023, 1, 1, tzinfo=UTC))
    # A restart at any later time sends nothing again.
    with time_machine.travel(datetime(2023, 1, 2, tzinfo=UTC), tick=False):
        assert run(config, "remind").startswith("Nothing is due.")

    stored = rows(config)
    sent = [
        row
        for row in stored
        if row.kind == "reminder" and row.channel == "team" and row.status == "sent"
    ]
    titles = entry_titles(config)
    got = sorted(
        (row.lead, titles[row.entry_id], f"{row.sent_at:%Y-%m-%dT%H:%M}")
        for row in sent
    )
    assert got == sorted(EXPECTED_REMINDERS)
    assert all(row.sent_at == row.due_at and not row.late for row in sent)
    assert (
        len(
            [
                r
                for r in stored
                if r.kind == "reminder" and r.channel == "mail" and r.status == "sent"
            ]
        )
        == 22
    )

    # Every sent row is one Slack post and one mail: nothing twice.
    team_sent = [
        row for row in stored if row.channel == "team" and row.status == "sent"
    ]
    assert len(slack_api.posted()) == len(team_sent)
    mail_sent = [
        row for row in stored if row.channel == "mail" and row.status == "sent"
    ]
    assert len(plain_smtp.handler.deliveries) == len(mail_sent)

    # The Face object change: reminded for the 12th, rescheduled on the 14th,
    # then reminded for the 27th.
    face = [
        row
        for row in sent
        if titles[row.entry_id] == "Deprecation of Face object from API"
    ]
    assert [(row.lead, row.target_at) for row in face] == [
        ("7d", datetime(2020, 2, 12, 14, tzinfo=UTC)),
        ("1d", datetime(2020, 2, 12, 14, tzinfo=UTC)),
        ("7d", datetime(2020, 2, 27, 14, tzinfo=UTC)),
        ("1d", datetime(2020, 2, 27, 14, tzinfo=UTC)),
    ]
    alerts = [
        row
        for row in stored
        if row.kind == "alert"
        and row.channel == "team"
        and row.entry_id == face[0].entry_id
    ]
    rescheduled = [
        row
        for row in alerts
        if row.sent_at and row.sent_at.date() == datetime(2020, 2, 14).date()
    ]
    assert len(rescheduled) == 1
    summaries = [row for row in stored if row.kind == "summary"]
    assert [(row.channel, row.status) for row in summaries] == [
        ("team", "sent"),
        ("mail", "sent"),
    ]


def test_dry_run_shows_what_is_due_and_stores_nothing(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    commit(
        vendor,
        HEADER + "| Feb 12, 2031. 9:00am ET | **Retire v1** Use v2. |\n",
        datetime(2031, 1, 1, tzinfo=UTC),
    )
    config = write_config(tmp_path, vendor, "changes.md", slack_api)
    with time_machine.travel(datetime(2031, 1, 1, 1, tzinfo=UTC), tick=False):
        run(config, "sync")
        run(config, "remind")
    before = [(row.key, row.status) for row in rows(config)]

    shown = run(config, "remind", "--dry-run", "--at", "2031-02-05T14:00:00Z")

    assert "would send: reminder to team: Retire v1" in shown
    assert "Reminder: Retire v1 (in 7 days)" in shown
    assert "When:         2031-02-12 09:00 EST (7 days left)" in shown
    assert [(row.key, row.status) for row in rows(config)] == before
    assert len(slack_api.posted()) == 1  # the first sync's summary only


def one_change(vendor: Path, tmp_path: Path, slack_api: SlackApiServer) -> Path:
    """A page of one change (Retire v1, May 6, 2031) committed at START, and
    a config sending to the Slack server."""
    commit(vendor, HEADER + "| May 6, 2031 | **Retire v1** Use v2. |\n", START)
    return write_config(tmp_path, vendor, "changes.md", slack_api)


def test_a_claim_left_by_a_killed_process_is_sent_once_after_its_lease(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    config = one_change(vendor, tmp_path, slack_api)
    with time_machine.travel(START, tick=False):
        run(config, "sync")
        settings = load_config(config)
        engine = open_engine(settings.database_url)
        # A process claims the summary alert, then dies before sending it.
        with Session(engine) as session:
            claimed = outbox.claim_due(session, settings, START, worker="dead:1")
            kinds = [row.kind for row in claimed]
            session.commit()
        assert kinds == ["summary"]
        assert run(config, "remind").startswith("Nothing is due.")

    with time_machine.travel(START + outbox.LEASE + timedelta(seconds=1), tick=False):
        run(config, "remind")
        run(config, "remind")

    assert len(slack_api.posted()) == 1
    assert [row.status for row in rows(config) if row.kind == "summary"] == ["sent"]


class Killed(BaseException):
    """The process ends here, as under kill -9: nothing after it runs."""


def dies_after_sending(channel: Channel) -> Notifier:
    """A channel's real notifier, in a process killed right after each send."""
    notifier = build_notifier(channel)
    send = notifier.send

    def send_then_die(message: Message, *, skip_posts: int = 0) -> Receipt:
        send(message, skip_posts=skip_posts)
        raise Killed

    notifier.send = send_then_die  # type: ignore[method-assign]
    return notifier


def test_a_message_posted_by_a_process_killed_before_recording_it_is_not_repeated(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    config = one_change(vendor, tmp_path, slack_api)
    with time_machine.travel(START, tick=False):
        run(config, "sync")
        settings = load_config(config)
        engine = open_engine(settings.database_url)
        # A process claims the summary alert and posts it to Slack, then is
        # killed before it can record the delivery.
        with pytest.raises(Killed):
            dispatch(engine, settings, START, notifier_for=dies_after_sending)

    with time_machine.travel(START + outbox.LEASE + timedelta(seconds=1), tick=False):
        out = run(config, "remind")

    assert len(slack_api.posted()) == 1
    (row,) = [row for row in rows(config) if row.kind == "summary"]
    assert (row.status, row.interrupted, row.attempts) == ("sent", True, 2)
    assert out.startswith("sent: summary to team")


def test_a_post_whose_answer_was_lost_is_looked_up_not_repeated(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    config = one_change(vendor, tmp_path, slack_api)
    # Slack takes the summary, then the connection drops before the answer.
    slack_api.fail_next(drop=True, taken=True)

    with time_machine.travel(START, tick=False):
        run(config, "sync")
        first = run(config, "remind")
    (row,) = [row for row in rows(config) if row.kind == "summary"]
    assert first.startswith("pending: summary to team")
    assert (row.status, row.interrupted) == ("pending", True)

    with time_machine.travel(row.next_attempt_at, tick=False):
        run(config, "remind")

    (row,) = [row for row in rows(config) if row.kind == "summary"]
    assert (row.status, row.last_error) == ("sent", None)
    assert len(slack_api.posted()) == 1


def test_transient_failures_are_retried_later_and_sent_once(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    config = one_change(vendor, tmp_path, slack_api)
    slack_api.fail_next(status=503, times=3)

    with time_machine.travel(START, tick=False):
        run(config, "sync")
        out = run(config, "remind")
    row = next(row for row in rows(config) if row.kind == "summary")
    assert out.startswith("pending: summary to team")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == START + timedelta(minutes=1)

    with time_machine.travel(row.next_attempt_at, tick=False):
        run(config, "remind")

    assert [r.status for r in rows(config) if r.kind == "summary"] == ["sent"]
    assert len(slack_api.posted()) == 1


def test_a_rejected_token_fails_for_good_without_showing_it(
    vendor: Path,
    tmp_path: Path,
    slack_api: SlackApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKER_TEST_SLACK_TOKEN", "xoxb-revoked-secret")
    config = one_change(vendor, tmp_path, slack_api)

    with time_machine.travel(START, tick=False):
        run(config, "sync")
        result = CliRunner().invoke(app, ["--config", str(config), "remind"])

    assert result.exit_code == 1
    assert "invalid_auth" in result.stdout
    assert "xoxb-revoked-secret" not in result.output
    assert [r.status for r in rows(config) if r.kind == "summary"] == ["failed"]


def test_page_text_cannot_ping_or_inject(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer, plain_smtp: RunningServer
) -> None:
    start = START
    config = tracked(
        vendor,
        tmp_path,
        slack_api,
        "| May 6, 2031 | **Retire v1** Use v2. |\n",
        plain_smtp,
    )
    evil = (
        "| May 7, 2031 | **Ping `<!channel>` & <@U123>** <script>alert(1)</script>"
        " <https://evil.example|click> |\n"
    )
    later = start + timedelta(days=1)
    commit(vendor, HEADER + "| May 6, 2031 | **Retire v1** Use v2. |\n" + evil, later)

    with time_machine.travel(later, tick=False):
        run(config, "sync")
        run(config, "remind")

    post = slack_api.posted()[-1]
    blob = json.dumps(post)
    assert "<!channel>" not in blob and "<@U123>" not in blob
    assert "&lt;!channel&gt;" in blob and "&lt;@U123&gt;" in blob
    assert "<https://evil.example|click>" not in blob
    mail = email.message_from_bytes(
        plain_smtp.handler.deliveries[-1].content, policy=default
    )
    assert isinstance(mail, EmailMessage)
    html = mail.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "&lt;!channel&gt;" in html.get_content()


def test_weekly_digest_is_sent_once_per_period_and_never_empty(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    digest = '[channels.digest]\nschedule = "weekly"\nweekday = "monday"\ntime = "09:00"\nhorizon = "30d"\n'
    config = tracked(
        vendor,
        tmp_path,
        slack_api,
        "| Jan 20, 2031 | **Retire v1** Use v2. |\n",
        extra=digest,
    )

    # Tracking began on Wednesday 2031-01-01; the first Monday at 09:00 in
    # New York is 14:00Z on the 6th.
    monday = datetime(2031, 1, 6, 14, 0, tzinfo=UTC)
    with time_machine.travel(monday, tick=False):
        run(config, "remind")
        run(config, "remind")

    digests = [row for row in rows(config) if row.kind == "digest"]
    assert [(row.status, row.due_at) for row in digests] == [("sent", monday)]
    assert "Retire v1" in json.dumps(slack_api.posted()[-1])


def test_reminders_due_during_downtime_are_sent_late_within_the_grace_else_skipped(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    # 9:00am ET on the 20th: 7d reminder on the 13th, 1d on the 19th, 14:00Z.
    config = tracked(
        vendor,
        tmp_path,
        slack_api,
        "| Jan 20, 2031. 9:00am ET | **Retire v1** Use v2. |\n",
    )

    # Down from before the 13th until 2 hours after the 7d reminder's time...
    with time_machine.travel(datetime(2031, 1, 13, 16, 0, tzinfo=UTC), tick=False):
        run(config, "remind")
    # ... and from before the 19th until 7 hours after the 1d reminder's time.
    with time_machine.travel(datetime(2031, 1, 19, 21, 0, tzinfo=UTC), tick=False):
        run(config, "remind")

    reminders = {row.lead: row for row in rows(config) if row.kind == "reminder"}
    assert (reminders["7d"].status, reminders["7d"].late) == ("sent", True)
    assert reminders["1d"].status == "skipped"
    assert "missed" in (reminders["1d"].last_error or "")


def test_test_channel_reports_the_servers_answer(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    commit(
        vendor,
        HEADER + "| May 6, 2031 | **Retire v1** Use v2. |\n",
        datetime(2031, 1, 1, tzinfo=UTC),
    )
    config = write_config(tmp_path, vendor, "changes.md", slack_api)

    out = run(config, "test-channel", "team")

    assert out.startswith("sent a test message to team: ok channel=C0TRACKER ts=")
    assert len(slack_api.posted()) == 1
    assert run(config, "test-channel", "nope", code=2) == ""


def test_outbox_lists_rows_by_status(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    config = tracked(
        vendor, tmp_path, slack_api, "| May 6, 2031 | **Retire v1** Use v2. |\n"
    )

    pending = json.loads(run(config, "outbox", "--status", "pending", "--json"))
    sent = json.loads(run(config, "outbox", "--status", "sent", "--json"))

    assert sorted((row["kind"], row["lead"], row["due_at"]) for row in pending) == [
        ("reminder", "1d", "2031-05-05T13:00:00Z"),
        ("reminder", "7d", "2031-04-29T13:00:00Z"),
    ]
    assert [row["kind"] for row in sent] == ["summary"]
    assert "2031-05-05 13:00Z" in run(config, "outbox")
    run(config, "outbox", "--status", "lost", code=2)


def test_digest_on_demand_is_sent_once_per_period(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    start = START
    digest = '[channels.digest]\nschedule = "weekly"\nweekday = "wednesday"\ntime = "09:00"\n'
    config = tracked(
        vendor,
        tmp_path,
        slack_api,
        "| Jan 20, 2031 | **Retire v1** Use v2. |\n",
        extra=digest,
    )
    posts = len(slack_api.posted())

    with time_machine.travel(start + timedelta(hours=20), tick=False):
        preview = run(config, "digest", "--dry-run")
        first = run(config, "digest", "--channel", "team")
        second = run(config, "digest")

    assert "would send: digest to team" in preview and "Retire v1" in preview
    assert first.startswith("sent: digest to team")
    assert second.startswith("already sent: digest to team")
    assert len(slack_api.posted()) == posts + 1


def test_a_missing_token_is_a_config_error_and_claims_nothing(
    vendor: Path,
    tmp_path: Path,
    slack_api: SlackApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = one_change(vendor, tmp_path, slack_api)
    monkeypatch.delenv("TRACKER_TEST_SLACK_TOKEN")
    with time_machine.travel(START, tick=False):
        run(config, "sync")
        result = CliRunner().invoke(app, ["--config", str(config), "remind"])

    assert result.exit_code == 2
    assert "environment variable TRACKER_TEST_SLACK_TOKEN" in result.stderr
    assert [row.status for row in rows(config)] == ["pending"]


def test_quiet_hours_longer_than_the_grace_hold_a_reminder_without_losing_it(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    # 11:00pm UTC on the 10th: the 1d reminder falls at 23:00Z on the 9th,
    # 18:00 in New York, inside the channel's quiet hours (17:00-07:00).
    quiet = 'quiet_hours = { start = "17:00", end = "07:00" }\n'
    config = tracked(
        vendor,
        tmp_path,
        slack_api,
        "| January 10, 2031. 11:00pm UTC | **Retire v1** Use v2. |\n",
        extra=quiet,
    )

    for at in ("2031-01-09T23:00:00Z", "2031-01-10T03:00:00Z"):
        with time_machine.travel(datetime.fromisoformat(at), tick=False):
            assert run(config, "remind").startswith("Nothing is due.")
    # New York's 07:00 is 12:00Z, thirteen hours after the reminder's time.
    with time_machine.travel(datetime(2031, 1, 10, 12, 0, tzinfo=UTC), tick=False):
        run(config, "remind")

    reminder = next(row for row in rows(config) if row.lead == "1d")
    assert (reminder.status, reminder.sent_at) == (
        "sent",
        datetime(2031, 1, 10, 12, 0, tzinfo=UTC),
    )


def test_a_template_that_fails_fails_its_row_and_the_others_go_out(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer, plain_smtp: RunningServer
) -> None:
    templates = tmp_path / "templates" / "slack"
    templates.mkdir(parents=True)
    (templates / "summary.text.j2").write_text("{{ 1 // 0 }}", encoding="utf-8")
    start = datetime(2031, 1, 1, tzinfo=UTC)
    commit(vendor, HEADER + "| May 6, 2031 | **Retire v1** Use v2. |\n", start)
    config = write_config(tmp_path, vendor, "changes.md", slack_api, plain_smtp)
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[notify]\ntemplates_dir = "{tmp_path / "templates"}"\n',
        encoding="utf-8",
    )

    with time_machine.travel(start, tick=False):
        run(config, "sync")
        out = run(config, "remind", code=1)
    later = start + timedelta(days=1)
    commit(vendor, HEADER + "| May 20, 2031 | **Retire v1** Use v2. |\n", later)
    with time_machine.travel(later, tick=False):
        run(config, "sync")
        run(config, "remind")

    # Every message renders every part, so both summaries failed, once, and
    # were not left claimed; the next alert went out to both channels.
    summaries = [
        (row.channel, row.status, row.attempts)
        for row in rows(config)
        if row.kind == "summary"
    ]
    assert sorted(summaries) == [("mail", "failed", 1), ("team", "failed", 1)]
    assert "failed: summary to team" in out and "ZeroDivisionError" in out
    alerts = [(row.channel, row.status) for row in rows(config) if row.kind == "alert"]
    assert sorted(alerts) == [("mail", "sent"), ("team", "sent")]


def test_two_planners_at_once_plan_each_message_once(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    import threading

    start = datetime(2031, 1, 1, tzinfo=UTC)
    rows_text = "".join(
        f"| May {day}, 2031 | **Change {day}** Text. |\n" for day in range(1, 29)
    )
    commit(vendor, HEADER + rows_text, start)
    config = write_config(tmp_path, vendor, "changes.md", slack_api)
    with time_machine.travel(start, tick=False):
        run(config, "sync")
    settings = load_config(config)
    engine = open_engine(settings.database_url)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def plan() -> None:
        barrier.wait()
        try:
            with Session(engine) as session:
                outbox.plan(session, settings, start)
                session.commit()
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=plan) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    reminders = [row for row in rows(config) if row.kind == "reminder"]
    assert len(reminders) == 28 * 2 == len({row.key for row in reminders})


def test_a_reminder_held_by_quiet_hours_counts_its_grace_from_their_end(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    quiet = 'quiet_hours = { start = "17:00", end = "07:00" }\n'
    config = tracked(
        vendor,
        tmp_path,
        slack_api,
        "| January 10, 2031. 11:00pm UTC | **Retire v1** Use v2. |\n",
        extra=quiet,
    )

    # Nothing ran during the night; quiet hours ended at 12:00Z (07:00 in
    # New York), five hours ago: within the grace from their end.
    with time_machine.travel(datetime(2031, 1, 10, 17, 0, tzinfo=UTC), tick=False):
        run(config, "remind")

    reminder = next(row for row in rows(config) if row.lead == "1d")
    assert reminder.status == "sent"


@pytest.mark.parametrize(
    ("left", "words"),
    [
        (timedelta(days=7), "in 7 days"),
        (timedelta(days=1), "tomorrow"),
        (timedelta(days=6, hours=22), "in about 7 days"),
        (timedelta(hours=2), "in 2 hours"),
        (timedelta(hours=2, minutes=40), "in about 3 hours"),
        (timedelta(minutes=1), "in 1 minute"),
    ],
)
def test_time_left_in_words(left: timedelta, words: str) -> None:
    from tracker.dispatch import describe_lead

    assert describe_lead(left) == words


def test_a_failing_source_is_announced_once_and_its_recovery_once(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    start = START
    config = tracked(
        vendor, tmp_path, slack_api, "| May 6, 2031 | **Retire v1** Use v2. |\n"
    )
    hidden = tmp_path / "hidden"
    vendor.rename(hidden)

    # Five failed syncs in a row: one notice when the third fails.
    for minute in range(1, 6):
        with time_machine.travel(start + timedelta(minutes=minute), tick=False):
            run(config, "sync", code=1)
            run(config, "remind")
    hidden.rename(vendor)
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        run(config, "sync")
        run(config, "remind")
        run(config, "sync")
        run(config, "remind")

    notices = [
        (row.key.split(":")[3], row.status)
        for row in rows(config)
        if row.kind == "source"
    ]
    assert notices == [("failing", "sent"), ("recovered", "sent")]
    texts = [str(post) for post in slack_api.posted()]
    assert "has failed to sync 3 times in a row" in texts[1]
    assert "cannot reach repository" in texts[1]
    assert "syncs again" in texts[2]
    assert len(texts) == 3


def test_a_failing_notice_sent_after_the_recovery_tells_of_the_failures(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    config = tracked(
        vendor, tmp_path, slack_api, "| May 6, 2031 | **Retire v1** Use v2. |\n"
    )
    hidden = tmp_path / "hidden"
    vendor.rename(hidden)
    # Three failed syncs queue the notice; the source recovers before any
    # message is sent.
    for minute in range(1, 4):
        with time_machine.travel(START + timedelta(minutes=minute), tick=False):
            run(config, "sync", code=1)
    hidden.rename(vendor)
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        run(config, "sync")
        run(config, "remind")

    failing, recovered = [str(post) for post in slack_api.posted()][-2:]
    assert "has failed to sync 3 times in a row" in failing
    assert "cannot reach repository" in failing
    assert "syncs again" in recovered


def test_a_reminder_whose_change_has_passed_is_skipped_not_counted_down(
    vendor: Path, tmp_path: Path, slack_api: SlackApiServer
) -> None:
    config = tracked(
        vendor, tmp_path, slack_api, "| May 6, 2031 | **Retire v1** Use v2. |\n"
    )
    # One reminder, an hour before May 6, 2031 09:00 New York (13:00Z).
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('reminders = ["7d", "1d"]', 'reminders = ["1h"]'))
    # Nothing ran from before the reminder (12:00Z) until half an hour after
    # the change: still within the reminder's six hours of grace.
    with time_machine.travel(datetime(2031, 5, 6, 13, 30, tzinfo=UTC), tick=False):
        out = run(config, "remind")

    reminders = {row.lead: row for row in rows(config) if row.kind == "reminder"}
    assert reminders["1h"].status == "skipped"
    assert reminders["1h"].last_error == (
        "missed: the change was due 2031-05-06 13:00Z, before it could be sent"
    )
    assert "in 0 minutes" not in out
    assert not any("Reminder" in str(post) for post in slack_api.posted())
