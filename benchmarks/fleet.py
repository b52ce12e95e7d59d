"""Helpers for the daemon benchmarks: vendor repositories and ``tracker run``.

A fleet is a set of small local repositories, each holding one change page
with an "## Upcoming changes" table, tracked by one config that sends to a
Slack channel. The daemon runs as a real subprocess; its memory and CPU are
read from ``/proc`` and its counters from its own ``/metrics``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from common import ROOT, commit_files, init_repo
from prometheus_client.parser import text_string_to_metric_families

# The loopback Slack Web API server lives with the tests; the benchmarks run
# from their own folder, so the repository root must be importable first.
sys.path.insert(0, str(ROOT))
from tests.notify.slack_api import CHANNEL_ID, TOKEN, SlackApiServer

PAGE_PATH = "docs/changes.md"
ROWS = 6
FIRST_DATE = date(2031, 3, 3)
TOKEN_VARIABLE = "TRACKER_BENCH_SLACK_TOKEN"
# How long the daemon may take to start, do its first syncs, or stop.
DEADLINE = 60.0


def source_name(index: int) -> str:
    return f"vendor-{index:02d}"


def change_title(index: int, row: int) -> str:
    return f"Retire widgets endpoint {index}.{row}"


def page_text(index: int, shift_days: int = 0) -> str:
    """The change page of source ``index``; its first row moved ``shift_days``."""
    lines = [
        f"# Widgets API {index}: upcoming changes\n",
        "## Upcoming changes\n",
        "| Date | Change | Details |",
        "|------|--------|---------|",
    ]
    for row in range(ROWS):
        day = FIRST_DATE + timedelta(weeks=row, days=shift_days if row == 0 else 0)
        lines.append(
            f"| {day:%B} {day.day}, {day.year} | {change_title(index, row)} | "
            f"Calls to `/v1/widgets/{row}` will return 410; use `/v2` instead. |"
        )
    return "\n".join(lines) + "\n"


def make_fleet(folder: Path, count: int) -> list[Path]:
    """Create ``count`` vendor repositories, each with its page and a README."""
    repos = []
    for index in range(count):
        repo = init_repo(folder / source_name(index))
        files: dict[str, str | bytes] = {
            "README.md": f"# Widgets {index}\n",
            PAGE_PATH: page_text(index),
        }
        commit_files(repo, files, "Add change page")
        repos.append(repo)
    return repos


def push_reschedule(repo: Path, index: int, shift_days: int) -> str:
    """Commit a page whose first entry moved ``shift_days``; return the commit."""
    page: dict[str, str | bytes] = {PAGE_PATH: page_text(index, shift_days)}
    return commit_files(repo, page, f"Move change {index}.0 by {shift_days} days")


def write_fleet_config(
    folder: Path,
    repos: list[Path],
    *,
    interval: str,
    jitter: str,
    slack_base_url: str,
    health_address: str,
    commits_feed: Callable[[int], str] = lambda index: "off",
) -> Path:
    """Write a config syncing every repository and sending to one Slack channel.

    ``commits_feed`` gives each source's feed by its index; with "off"
    every sync asks git for the branch tip.
    """
    parts = [
        f'[tracker]\ndata_dir = "{folder / "data"}"\n',
        f'[daemon]\nhealth_address = "{health_address}"\n',
    ]
    for index, repo in enumerate(repos):
        parts.append(
            f'[[sources]]\nname = "{source_name(index)}"\nrepo = "{repo.as_uri()}"\n'
            f'branch = "main"\npath = "{PAGE_PATH}"\ntimezone = "America/New_York"\n'
            f'interval = "{interval}"\njitter = "{jitter}"\n'
            f'commits_feed = "{commits_feed(index)}"\n'
        )
    parts.append(
        f'[[channels]]\nname = "team"\ntype = "slack"\nchannel = "{CHANNEL_ID}"\n'
        f'token_env = "{TOKEN_VARIABLE}"\nbase_url = "{slack_base_url}"\n'
    )
    config = folder / "tracker.toml"
    config.write_text("\n".join(parts), encoding="utf-8")
    return config


def free_address() -> str:
    """A loopback host:port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@dataclass
class RunningDaemon:
    """A ``tracker run`` over a fleet, and the Slack server it sends to."""

    process: subprocess.Popen[bytes]
    slack: SlackApiServer
    repos: list[Path]
    health_address: str
    started: float

    def wait_for(
        self, condition: Callable[[], bool], what: str, deadline: float = DEADLINE
    ) -> None:
        """Poll ``condition`` every 50 ms; raise SystemExit past ``deadline`` s."""
        ends = time.monotonic() + deadline
        while not condition():
            if self.process.poll() is not None:
                status = self.process.returncode
                raise SystemExit(f"tracker run exited {status} before {what}")
            if time.monotonic() > ends:
                raise SystemExit(f"timed out after {deadline:.0f} s waiting for {what}")
            time.sleep(0.05)

    def posted(self) -> list[tuple[float, str]]:
        """Accepted chat.postMessage texts with their arrival (time.monotonic)."""
        with self.slack.lock:
            return [
                (request.at, str(request.payload.get("text", "")))
                for request in self.slack.requests
                if request.path == "/api/chat.postMessage" and request.accepted
            ]

    def metrics(self) -> dict[str, float]:
        """The daemon's /metrics samples, keyed by name and labels."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        url = f"http://{self.health_address}/metrics"
        with opener.open(url, timeout=10) as answer:
            text = answer.read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sorted(sample.labels.items())
                key = ",".join(f'{name}="{value}"' for name, value in labels)
                samples[f"{sample.name}{{{key}}}"] = sample.value
        return samples


@contextmanager
def running_daemon(sources: int, *, interval: str) -> Iterator[RunningDaemon]:
    """Run ``tracker run`` over a new fleet of ``sources``, jitter off.

    The daemon logs at INFO into a file in the fleet's folder; on leaving, it
    gets SIGTERM and must exit 0 (SystemExit with the log's tail otherwise).
    """
    slack = SlackApiServer()
    slack.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-daemon-") as temp:
            folder = Path(temp)
            repos = make_fleet(folder, sources)
            address = free_address()
            config = write_fleet_config(
                folder,
                repos,
                interval=interval,
                jitter="0s",
                slack_base_url=slack.base_url,
                health_address=address,
            )
            log = folder / "daemon.log"
            process = start_daemon(config, log)
            try:
                yield RunningDaemon(process, slack, repos, address, time.monotonic())
            finally:
                stop_daemon(process, log)
    finally:
        slack.stop()


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``tracker run`` logging at INFO into ``log``, with the bot token set."""
    env = {**os.environ, TOKEN_VARIABLE: TOKEN}
    # Everything is on loopback; a proxy from the environment must not see it.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        env.pop(name, None)
    command = [sys.executable, "-m", "tracker", "--config", str(config)]
    with log.open("wb") as stream:
        return subprocess.Popen(
            [*command, "--log-level", "info", "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stream,
        )


def stop_daemon(process: subprocess.Popen[bytes], log: Path) -> None:
    """Stop the daemon with SIGTERM; raise SystemExit if it did not stop cleanly."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise SystemExit("tracker run did not stop on SIGTERM") from None
    if status != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise SystemExit(f"tracker run exited {status}:\n{tail}")


def metric_total(samples: dict[str, float], name: str, label: str = "") -> float:
    """The sum of one metric over its labels, or over those holding ``label``."""
    return sum(
        value
        for key, value in samples.items()
        if key.startswith(name + "{") and label in key
    )


def resident_bytes(pid: int) -> int:
    """The process's resident set size (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of the process, and of its finished children.

    Children count once the process has waited for them, as it does for every
    git command; their own children are included the same way.
    """
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    ticks = os.sysconf("SC_CLK_TCK")
    return (utime + stime) / ticks, (cutime + cstime) / ticks
