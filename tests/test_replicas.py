"""Three ``tracker run`` replicas on one PostgreSQL database: one of them is
killed in the middle of a burst, and every message still arrives once."""

from __future__ import annotations

import email
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notify.slack_api import SlackApiServer
from tests.notify.smtp_server import RunningServer, run_smtp_server
from tests.test_cli import PAGE, commit_page, git
from tests.test_scheduling import (
    DEADLINE,
    outbox_states,
    posted_keys,
    start_daemon,
    wait_for,
    with_new_changes,
)

pytestmark = pytest.mark.postgresql_only

NEW_CHANGES = 20


@pytest.fixture
def smtp() -> Iterator[RunningServer]:
    with run_smtp_server() as server:
        yield server


def replica_config(
    tmp_path: Path, repo: Path, slack: SlackApiServer, smtp: RunningServer
) -> Path:
    """A config every replica shares: one source, a Slack and a mail channel."""
    config = tmp_path / "tracker.toml"
    config.write_text(
        f'[tracker]\ndata_dir = "{tmp_path / "data"}"\n\n'
        '[daemon]\nhealth_address = ""\n\n'
        f'[[sources]]\nname = "widgets"\nrepo = "{repo}"\nbranch = "main"\n'
        'path = "changes.md"\ntimezone = "America/New_York"\ninterval = "2s"\njitter = "1s"\n\n'
        '[[channels]]\nname = "team"\ntype = "slack"\nchannel = "C0TRACKER"\n'
        f'token_env = "TRACKER_TEST_SLACK_TOKEN"\nbase_url = "{slack.base_url}"\n\n'
        '[[channels]]\nname = "mail"\ntype = "email"\n'
        f'host = "{smtp.host}"\nport = {smtp.port}\nsecurity = "none"\n'
        'from = "Tracker <tracker@example.com>"\nto = ["team@example.com"]\n',
        encoding="utf-8",
    )
    return config


def mail_ids(smtp: RunningServer) -> list[str]:
    """The Message-ID of every mail the server accepted."""
    return [
        str(email.message_from_bytes(delivery.content)["Message-ID"])
        for delivery in smtp.handler.deliveries
    ]


def test_three_replicas_send_each_message_once_when_one_is_killed(
    tmp_path: Path, database_url: str, slack: SlackApiServer, smtp: RunningServer
) -> None:
    repo = tmp_path / "vendor"
    git("init", "--quiet", "--initial-branch=main", repo)
    commit_page(repo, PAGE.read_text(encoding="utf-8"), "Add change page")
    config = replica_config(tmp_path, repo, slack, smtp)
    replicas = [start_daemon(config) for _ in range(3)]
    try:
        # One replica syncs the first revision: one summary per channel.
        wait_for(
            lambda: len(slack.posted()) == 1 and len(smtp.handler.deliveries) == 1,
            "the first sync's summaries",
        )
        # Every post now takes 0.3 s, so that the kill lands mid-burst.
        slack.fail_next(delay=0.3, times=200)
        commit_page(repo, with_new_changes(NEW_CHANGES), "Twenty new changes")
        wait_for(lambda: len(slack.posted()) >= 6, "the burst to be under way")
        replicas[0].kill()
        replicas[0].communicate(timeout=DEADLINE)

        expected = {"sent": 2 * (1 + NEW_CHANGES)}
        wait_for(
            lambda: outbox_states(config) == expected,
            "every message sent",
            lambda: f"outbox {outbox_states(config)}, posted {len(slack.posted())}",
        )
        time.sleep(3)  # a duplicate, if any, would come now
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.send_signal(signal.SIGTERM)
        errors = [replica.communicate(timeout=DEADLINE)[1] for replica in replicas]

    assert replicas[0].returncode == -signal.SIGKILL
    assert [replica.returncode for replica in replicas[1:]] == [0, 0], errors
    keys = posted_keys(slack)
    assert len(keys) == 1 + NEW_CHANGES
    assert [key for key, n in Counter(keys).items() if n > 1] == []
    # A mail server cannot be asked what it received: a mail cut off by
    # the kill may come twice, but as the same message (same Message-ID).
    ids = mail_ids(smtp)
    assert len(set(ids)) == 1 + NEW_CHANGES
    assert len(ids) - len(set(ids)) <= 1
