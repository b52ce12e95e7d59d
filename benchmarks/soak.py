"""Run ``tracker run`` with the example config for an hour and watch it.

The example config tracks the real 31-revision history of a vendor's change
page, read from ``../shared/fixtures/clarifai-upcoming-history.bundle``; here
the bundle is cloned into a local bare repository that stands in for the
vendor's, and the Slack channel points at the tests' loopback Slack server.
Everything else is the example config as shipped (reminders 7d and 1d in New
York, a weekly digest), except the sync interval (``--interval``, default
1m, so that the hour holds sixty syncs rather than four) and no jitter.

During the run the script:

- reads the daemon's resident memory and CPU time from ``/proc`` every 30
  seconds, and ``/healthz`` and ``/metrics`` every minute;
- after two minutes, pushes a commit that moves the page's one upcoming
  change to 24 hours and ``--reminder-in`` minutes from then, so that an
  alert is due at the next sync and the 1-day reminder that many minutes
  later;
- at the end, sends SIGTERM and expects exit 0.

Targets: resident memory grows less than 10 MB from the fifth minute to the
end (the first minutes load modules and warm caches); every health check
answers 200; the alert arrives within the interval plus 30 s of the push;
the reminder within 60 s of its minute; the daemon stops cleanly. Exits 1
when one is missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import human, print_machine, print_table
from fleet import cpu_seconds, free_address, resident_bytes, start_daemon, stop_daemon

from tests.notify.slack_api import TOKEN, SlackApiServer
from tracker.config import load_config, parse_duration

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "fixtures" / "clarifai-upcoming-history.bundle"
PAGE = "product-updates/upcoming-api-changes.md"
# The date of the page's one upcoming change in its last revision.
UPCOMING_DATE = "| January 20, 2022 |"
CHANNEL = "C0SOAK"
MAX_RSS_GROWTH = 10_000_000


def git(*args: str | Path) -> str:
    return subprocess.run(
        ["git", *map(str, args)], check=True, capture_output=True, text=True
    ).stdout


def soak_config(
    folder: Path, upstream: Path, slack: SlackApiServer, interval: str
) -> Path:
    """The example config, pointed at ``upstream`` and the loopback Slack server."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    address = free_address()
    replacements = {
        '# data_dir = "/var/lib/tracker"': f'data_dir = "{folder / "data"}"',
        'health_address = "127.0.0.1:9465"': f'health_address = "{address}"',
        'repo = "../shared/fixtures/clarifai-upcoming-history.bundle"': f'repo = "{upstream}"',
        'interval = "15m"': f'interval = "{interval}"',
        'jitter = "30s"': 'jitter = "0s"',
        'channel = "#api-changes"': f'channel = "{CHANNEL}"\nbase_url = "{slack.base_url}"',
    }
    for old, new in replacements.items():
        if old not in text:
            raise SystemExit(f"config.example.toml no longer holds {old!r}")
        text = text.replace(old, new, 1)
    config = folder / "tracker.toml"
    config.write_text(text, encoding="utf-8")
    load_config(config)  # refuse a broken config here, not in the daemon
    return config


def push_upcoming(work: Path, when: datetime) -> None:
    """Move the upcoming change to ``when`` and push it upstream."""
    page = work / PAGE
    text = page.read_text(encoding="utf-8")
    if UPCOMING_DATE not in text:
        raise SystemExit("the last revision no longer has the expected upcoming row")
    page.write_text(
        text.replace(UPCOMING_DATE, f"| {when:%B %d, %Y %H:%M} UTC |", 1),
        encoding="utf-8",
    )
    git(
        "-C",
        work,
        "-c",
        "user.name=Soak",
        "-c",
        "user.email=soak@example.com",
        "commit",
        "--quiet",
        "-am",
        "Reschedule the deprecation",
    )
    git("-C", work, "push", "--quiet", "origin", "HEAD:master")


def health(address: str, path: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{address}{path}", timeout=10) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def arrival(slack: SlackApiServer, needle: str, since: float) -> float | None:
    """When (time.monotonic) the first accepted post holding ``needle`` came."""
    with slack.lock:
        for request in slack.requests:
            if (
                request.path == "/api/chat.postMessage"
                and request.accepted
                and request.at >= since
                and needle in str(request.payload.get("text", ""))
            ):
                return request.at
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--interval", default="1m")
    parser.add_argument("--reminder-in", type=int, default=10, help="minutes")
    args = parser.parse_args()
    if not BUNDLE.exists():
        raise SystemExit(f"skipped: the vendor history bundle is not at {BUNDLE}")

    slack = SlackApiServer(channels={CHANNEL})
    slack.start()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as temp:
        folder = Path(temp)
        upstream = folder / "upstream.git"
        git("clone", "--quiet", "--bare", BUNDLE, upstream)
        work = folder / "work"
        git("clone", "--quiet", upstream, work)
        config = soak_config(folder, upstream, slack, args.interval)
        address = load_config(config).daemon.health_address
        log = folder / "daemon.log"
        # The example config names SLACK_BOT_TOKEN; the loopback server's token.
        os.environ["SLACK_BOT_TOKEN"] = TOKEN
        process = start_daemon(config, log)
        started = time.monotonic()
        ends = started + args.minutes * 60
        samples: list[tuple[float, int, float]] = []
        checks: list[tuple[int, int]] = []
        pushed_at: float | None = None
        reminder_due: datetime | None = None
        reminder_due_mono = 0.0
        # The health listener needs the daemon's start-up (imports) first.
        next_sample, next_check = started, started + 30
        try:
            while time.monotonic() < ends:
                now = time.monotonic()
                if process.poll() is not None:
                    raise SystemExit(f"tracker run exited {process.returncode} early")
                if now >= next_sample:
                    own, children = cpu_seconds(process.pid)
                    samples.append(
                        (now - started, resident_bytes(process.pid), own + children)
                    )
                    next_sample += 30
                if now >= next_check:
                    checks.append(
                        (health(address, "/healthz"), health(address, "/metrics"))
                    )
                    next_check += 60
                if pushed_at is None and now - started >= 120:
                    target = datetime.now(UTC).replace(
                        second=0, microsecond=0
                    ) + timedelta(days=1, minutes=args.reminder_in)
                    push_upcoming(work, target)
                    pushed_at = time.monotonic()
                    reminder_due = target - timedelta(days=1)
                    reminder_due_mono = (
                        pushed_at + (reminder_due - datetime.now(UTC)).total_seconds()
                    )
                time.sleep(1)
        finally:
            stop_daemon(process, log)
        slack.stop()

    print(
        f"tracker run, example config, {args.minutes:.0f} minutes, interval {args.interval}"
    )
    print_machine()
    warmup = min(300.0, args.minutes * 15)
    after_warmup = [s for s in samples if s[0] >= warmup]
    growth = after_warmup[-1][1] - after_warmup[0][1]
    cpu = samples[-1][2] - samples[0][2]
    span = samples[-1][0] - samples[0][0]
    alert = arrival(slack, "Deprecation of", pushed_at or 0.0) if pushed_at else None
    reminder = (
        arrival(slack, "Reminder", reminder_due_mono - 120) if reminder_due else None
    )
    interval = parse_duration(args.interval).total_seconds()
    rows = [
        (
            "resident memory at 5 min / at end",
            f"{human(after_warmup[0][1])} / {human(samples[-1][1])}",
        ),
        (f"growth from {warmup / 60:.0f} min to the end", f"{growth / 1e6:+.2f} MB"),
        ("largest resident memory", human(max(s[1] for s in samples))),
        (
            "CPU, git included",
            f"{cpu:.1f} s over {span / 60:.0f} min ({100 * cpu / span:.2f}% of a core)",
        ),
        (
            "/healthz and /metrics answers",
            f"{sum(h == 200 and m == 200 for h, m in checks)} of {len(checks)} were 200",
        ),
        (
            "alert after the push",
            f"{alert - pushed_at:.1f} s" if alert and pushed_at else "never",
        ),
        (
            "1-day reminder after its minute",
            f"{reminder - reminder_due_mono:+.1f} s" if reminder else "never",
        ),
    ]
    print_table(["what", "figure"], rows)
    if growth >= MAX_RSS_GROWTH:
        failures.append(f"memory grew {growth / 1e6:.1f} MB")
    if any(h != 200 or m != 200 for h, m in checks):
        failures.append("a health check did not answer 200")
    if alert is None or pushed_at is None or alert - pushed_at > interval + 30:
        failures.append("the alert came late or never")
    if reminder is None or abs(reminder - reminder_due_mono) > 60:
        failures.append("the reminder was not sent at its minute")
    if failures:
        raise SystemExit("missed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
