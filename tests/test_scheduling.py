"""``tracker run`` as a real process: syncs, alerts, one instance, clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.notify.slack_api import TOKEN, SlackApiServer
from tests.test_cli import PAGE, commit_page, git

pytestmark = pytest.mark.database

# Each wait is bounded; the daemon syncs every 2 seconds here.
DEADLINE = 30.0


def wait_for(
    condition: Callable[[], bool],
    what: str,
    state: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition`` until it holds, failing after the deadline with
    what ``state`` says."""
    ends = time.monotonic() + DEADLINE
    while time.monotonic() < ends:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}" + (f": {state()}" if state else ""))


@pytest.fixture
def setup(tmp_path: Path, slack: SlackApiServer) -> tuple[Path, Path]:
    """A vendor repository and a config syncing it every 2 s into Slack."""
    repo = tmp_path / "vendor"
    git("init", "--quiet", "--initial-branch=main", repo)
    commit_page(repo, PAGE.read_text(encoding="utf-8"), "Add change page")
    config = tmp_path / "tracker.toml"
    config.write_text(
        f'[tracker]\ndata_dir = "{tmp_path / "data"}"\n\n'
        f'[daemon]\nhealth_address = "127.0.0.1:{free_port()}"\n\n'
        f'[[sources]]\nname = "widgets"\nrepo = "{repo}"\nbranch = "main"\n'
        'path = "changes.md"\ntimezone = "America/New_York"\ninterval = "2s"\njitter = "0s"\n\n'
        '[[channels]]\nname = "team"\ntype = "slack"\nchannel = "C0TRACKER"\n'
        f'token_env = "TRACKER_TEST_SLACK_TOKEN"\nbase_url = "{slack.base_url}"\n',
        encoding="utf-8",
    )
    return repo, config


def free_port() -> int:
    """A port nothing listens on now, on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(config: Path, path: str) -> tuple[int, str]:
    """GET a path of the daemon's health listener."""
    address = re.search(
        r'health_address = "([^"]+)"', config.read_text(encoding="utf-8")
    )
    assert address is not None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{address.group(1)}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def stop(daemon: subprocess.Popen[str]) -> str:
    """SIGTERM the daemon and return its stderr; kill it if it outstays the
    deadline, so that it cannot outlive the test."""
    daemon.send_signal(signal.SIGTERM)
    try:
        return daemon.communicate(timeout=DEADLINE)[1]
    except subprocess.TimeoutExpired:
        daemon.kill()
        err = daemon.communicate()[1]
        pytest.fail(f"tracker run did not stop on SIGTERM:\n{err[-3000:]}")


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
    setup: tuple[Path, Path], slack: SlackApiServer, backend: str
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
        assert fetch(config, "/healthz") == (200, "ok\n")
        # The post reaches Slack a moment before the daemon records it.
        wait_for(
            lambda: 'tracker_outbox{status="sent"} 2.0' in fetch(config, "/metrics")[1],
            "both messages recorded as sent",
        )
        status, metrics = fetch(config, "/metrics")
        assert status == 200
        assert 'tracker_syncs_total{outcome="ok",source="widgets"}' in metrics
        assert (
            'tracker_notification_latency_seconds_count{channel="team",kind="alert"} 1.0'
            in metrics
        )

        # The source syncs every 2 s: its next run is at most that far off.
        asked = datetime.now(UTC)
        (source,) = tracker_json(config, "status")["sources"]
        next_run = datetime.fromisoformat(source["next_sync_at"])
        assert asked - timedelta(seconds=1) <= next_run <= asked + timedelta(seconds=3)

        if backend == "sqlite":
            second = start_daemon(config)
            _, err = second.communicate(timeout=DEADLINE)
            assert second.returncode == 1
            assert "another 'tracker run' is using" in err
    finally:
        err = stop(daemon)
    assert daemon.returncode == 0, err
    assert len(slack.posted()) == 2


def with_new_changes(count: int) -> str:
    """The sample page with ``count`` more upcoming changes: as many alerts."""
    page = PAGE.read_text(encoding="utf-8")
    rows = "".join(
        f"| June {n + 1}, 2031 | **Change number {n}** Details of change {n}. |\n"
        for n in range(count)
    )
    divider = "| ---- | ------ |\n"
    assert divider in page
    return page.replace(divider, divider + rows, 1)


def test_kill_9_during_a_burst_then_restart_delivers_every_message_once(
    setup: tuple[Path, Path], slack: SlackApiServer
) -> None:
    repo, config = setup
    daemon = start_daemon(config)
    try:
        wait_for(lambda: len(slack.posted()) == 1, "the first sync's summary")
        # Every post now takes 0.3 s: the kill lands while one is in flight.
        slack.fail_next(delay=0.3, times=100)
        commit_page(repo, with_new_changes(20), "Twenty new changes")
        wait_for(lambda: len(slack.posted()) >= 8, "the burst to be under way")
    finally:
        daemon.kill()
        _, err = daemon.communicate(timeout=DEADLINE)
    assert daemon.returncode == -signal.SIGKILL, err
    restarted = start_daemon(config)
    try:
        # The summary of the first sync and an alert per new change, each
        # recorded as sent: the killed process's claim was not left to expire.
        wait_for(
            lambda: outbox_states(config) == {"sent": 21},
            "every message sent",
            lambda: f"outbox {outbox_states(config)}, posted {len(slack.posted())}",
        )
        time.sleep(3)  # a duplicate, if any, would come now
    finally:
        err = stop(restarted)

    keys = posted_keys(slack)
    assert restarted.returncode == 0, err
    assert sorted(set(keys)) == sorted(keys), "a message was posted twice"
    assert sum(key.startswith("alert:") for key in keys) == 20


def tracker_json(config: Path, command: str) -> Any:
    """What a tracker command prints with --json, read as another process would."""
    listing = subprocess.run(
        [sys.executable, "-m", "tracker", "--config", str(config), command, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(listing.stdout)


def outbox_states(config: Path) -> dict[str, int]:
    """How many outbox rows are in each state, as 'tracker outbox' says."""
    return dict(Counter(row["status"] for row in tracker_json(config, "outbox")))


def posted_keys(slack: SlackApiServer) -> list[str]:
    """The outbox keys of the posts Slack accepted, one per post."""
    return [
        post["metadata"]["event_payload"]["key"]
        for post in slack.posted()
        if "metadata" in post
    ]


def test_the_daemon_plans_reminders_again_only_when_the_event_log_changes(
    setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker import dispatch as dispatching
    from tracker.config import load_config
    from tracker.scheduling import TrackerDaemon
    from tracker.store.db import open_engine
    from tracker.sync import sync_source

    repo, config_path = setup
    monkeypatch.setenv("TRACKER_TEST_SLACK_TOKEN", TOKEN)
    config = load_config(config_path)
    engine = open_engine(config.database_url)
    daemon = TrackerDaemon(config, engine)
    asked: list[bool] = []
    real_dispatch = dispatching.dispatch

    def recording(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs["plan_reminders"])
        return real_dispatch(*args, **kwargs)

    monkeypatch.setattr("tracker.scheduling.dispatch", recording)
    sync_source(engine, config, config.sources[0])
    daemon.send()
    daemon.send()
    commit_page(repo, with_new_changes(1), "One new change")
    sync_source(engine, config, config.sources[0])
    daemon.send()
    daemon.scheduler.remove_all_jobs()

    assert asked == [True, False, True]


def test_sighup_is_ignored_with_a_warning(
    setup: tuple[Path, Path], slack: SlackApiServer
) -> None:
    _, config = setup
    daemon = start_daemon(config)
    try:
        wait_for(lambda: len(slack.posted()) == 1, "the first sync's summary")
        daemon.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert daemon.poll() is None
        assert fetch(config, "/healthz") == (200, "ok\n")
    finally:
        err = stop(daemon)

    assert daemon.returncode == 0, err
    assert "SIGHUP ignored" in err
