"""``tracker run`` as a real process: syncs, alerts, one instance, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.notify.slack_api import TOKEN, SlackApiServer
from tests.test_cli import PAGE, commit_page, git

# Each wait is bounded; the daemon syncs every 2 seconds here.
DEADLINE = 30.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds, failing after the deadline."""
    ends = time.monotonic() + DEADLINE
    while time.monotonic() < ends:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    server = SlackApiServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def setup(tmp_path: Path, slack: SlackApiServer) -> tuple[Path, Path]:
    """A vendor repository and a config syncing it every 2 s into Slack."""
    repo = tmp_path / "vendor"
    git("init", "--quiet", "--initial-branch=main", repo)
    commit_page(repo, PAGE.read_text(encoding="utf-8"), "Add change page")
    config = tmp_path / "tracker.toml"
    config.write_text(
        f'[tracker]\ndata_dir = "{tmp_path / "data"}"\n\n'
        f'[[sources]]\nname = "widgets"\nrepo = "{repo}"\nbranch = "main"\n'
        'path = "changes.md"\ntimezone = "America/New_York"\ninterval = "2s"\njitter = "0s"\n\n'
        '[[channels]]\nname = "team"\ntype = "slack"\nchannel = "C0TRACKER"\n'
        f'token_env = "TRACKER_TEST_SLACK_TOKEN"\nbase_url = "{slack.base_url}"\n',
        encoding="utf-8",
    )
    return repo, config


def start_daemon(config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TRACKER_TEST_SLACK_TOKEN": TOKEN}
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "tracker", "--config", str(config), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_daemon_alerts_on_a_pushed_change_and_stops_cleanly(
    setup: tuple[Path, Path], slack: SlackApiServer
) -> None:
    repo, config = setup
    daemon = start_daemon(config)
    try:
        wait_for(lambda: len(slack.posted()) == 1, "the first sync's summary")
        page = PAGE.read_text(encoding="utf-8").replace(
            "March 3rd 2031", "April 7th 2031"
        )
        commit_page(repo, page, "Retirement slips")

        wait_for(lambda: len(slack.posted()) == 2, "the reschedule alert")
        assert "Retire the v1 widgets endpoint" in str(slack.posted()[-1])

        second = start_daemon(config)
        _, err = second.communicate(timeout=DEADLINE)
        assert second.returncode == 1
        assert "another 'tracker run' is using" in err
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=DEADLINE)
    assert daemon.returncode == 0, err
    assert len(slack.posted()) == 2
