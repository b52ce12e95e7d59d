"""Time one poll cycle over twenty sources when nothing changed upstream.

A poll cycle is what ``tracker sync`` does: ``sync_source`` for each source
in turn, in one process. Twenty local repositories each hold a small change
page; the config sends to one Slack channel, so a sync that finds a change
queues its alerts as the daemon's would (nothing is sent). Measured, in this
process with the database already open:

- the first cycle (clones every cache and stores every baseline);
- a cycle in which no repository has a new commit;
- a cycle in which every repository has a new commit that reschedules one
  entry, so each sync reads, parses and stores the page and queues an alert;

and the no-change cycle through the ``tracker sync`` command, which adds
Python start-up and imports. The no-change cycle is also given as a ratio of
the changed one, measured in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from common import (
    measure,
    median,
    print_machine,
    print_table,
    quiet_tracker_logs,
    spread,
    timed,
)
from fleet import ROWS, free_address, make_fleet, push_reschedule, write_fleet_config
from sync_nochange import run_cli

from tests.feed_server import FeedServer, Served, commits_atom, feed_server
from tracker.config import load_config
from tracker.store.db import open_engine
from tracker.sync import SyncResult, sync_source

SOURCES = 20


@dataclass
class Mode:
    """One way of learning whether a source changed.

    ``write_config`` writes the config it needs; ``after_push`` shows the
    upstream's new commits to whatever the mode asks (nothing, for git).
    """

    write_config: Callable[[Path, list[Path]], Path]
    after_push: Callable[[list[Path]], None] = lambda repos: None


@dataclass
class CycleTimes:
    """Wall times, in seconds, of the cycles of one mode."""

    first: float
    unchanged: list[float]
    changed: list[float]
    unchanged_cli: list[float]


def git_fetch_config(folder: Path, repos: list[Path]) -> Path:
    """Every sync fetches the branch tip with git and compares it to the last one."""
    # Nothing is delivered during a cycle, so no Slack server needs to listen.
    return write_fleet_config(
        folder,
        repos,
        interval="15m",
        jitter="0s",
        slack_base_url=f"http://{free_address()}/api/",
        health_address=free_address(),
    )


def commits_feed_mode(feeds: FeedServer) -> Mode:
    """Every sync first polls an Atom feed of the page's commits with its ETag
    (a 304 when nothing changed) and fetches git only for a new commit."""

    def write_config(folder: Path, repos: list[Path]) -> Path:
        show_heads(feeds, repos)
        return write_fleet_config(
            folder,
            repos,
            interval="15m",
            jitter="0s",
            slack_base_url=f"http://{free_address()}/api/",
            health_address=free_address(),
            commits_feed=lambda index: feeds.url(f"/{index}.atom"),
        )

    return Mode(write_config, lambda repos: show_heads(feeds, repos))


def show_heads(feeds: FeedServer, repos: list[Path]) -> None:
    """Serve each repository's newest commit in its feed, as GitHub would."""
    for index, repo in enumerate(repos):
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        feeds.paths[f"/{index}.atom"] = Served(commits_atom(head))


def poll_modes(feeds: FeedServer) -> dict[str, Mode]:
    """The ways of polling a source that are timed.

    Every mode runs against the same repositories, in its own data folder.
    """
    return {
        "git fetch": Mode(git_fetch_config),
        "commits feed": commits_feed_mode(feeds),
    }


def run_cycle(config_path: Path) -> Callable[[], list[SyncResult]]:
    """A function that syncs every source of the config once, in order."""
    config = load_config(config_path)
    engine = open_engine(config.database_url)

    def cycle() -> list[SyncResult]:
        return [sync_source(engine, config, settings) for settings in config.sources]

    return cycle


def check(
    results: list[SyncResult], what: str, expect: Callable[[SyncResult], bool]
) -> None:
    """Stop with a message unless every source's result is as expected."""
    wrong = [result.source for result in results if not expect(result)]
    if wrong:
        raise SystemExit(f"{what}: unexpected result for {', '.join(wrong)}")


def time_mode(
    mode: Mode, config: Path, repos: list[Path], repeats: int, shifts: Iterator[int]
) -> CycleTimes:
    """Time the first, no-change, changed and CLI no-change cycles of one mode."""
    cycle = run_cycle(config)
    first, results = timed(cycle)
    check(results, "first cycle", lambda r: r.baseline and r.entries == ROWS)

    unchanged = []
    for _ in range(repeats):
        seconds, results = timed(cycle)
        check(results, "no-change cycle", lambda r: r.unchanged)
        unchanged.append(seconds)

    changed = []
    for _ in range(repeats):
        shift = next(shifts)
        for index, repo in enumerate(repos):
            push_reschedule(repo, index, shift)
        mode.after_push(repos)
        seconds, results = timed(cycle)
        check(results, "changed cycle", lambda r: r.counts["rescheduled"] == 1)
        changed.append(seconds)

    unchanged_cli = measure(lambda: run_cli(config, "sync"), repeats)
    return CycleTimes(first, unchanged, changed, unchanged_cli)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="cycles per figure")
    repeats = parser.parse_args().repeats
    quiet_tracker_logs()

    measured = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-poll-") as temp,
        feed_server() as feeds,
    ):
        folder = Path(temp)
        repos = make_fleet(folder / "upstream", SOURCES)
        shifts = itertools.count(7, 7)
        for index, (name, mode) in enumerate(poll_modes(feeds).items()):
            place = folder / f"mode-{index}"
            place.mkdir()
            measured[name] = time_mode(
                mode, mode.write_config(place, repos), repos, repeats, shifts
            )

    print(
        f"poll cycle over {SOURCES} sources ({ROWS}-row pages, file:// repositories); "
        f"median of {repeats} cycles"
    )
    print_machine()
    rows = []
    for name, times in measured.items():
        rows += [
            (f"{name}: first cycle", [times.first]),
            (f"{name}: no-change cycle", times.unchanged),
            (f"{name}: changed cycle", times.changed),
            (f"{name}: no-change cycle, CLI", times.unchanged_cli),
        ]
    print_table(
        ["cycle", "median ms", "min-max ms", "ms per source"],
        [
            (
                name,
                f"{median(t) * 1000:.0f}",
                spread(t),
                f"{median(t) * 1000 / SOURCES:.1f}",
            )
            for name, t in rows
        ],
    )
    for name, times in measured.items():
        print(
            f"{name}: no-change / changed cycle "
            f"{median(times.unchanged) / median(times.changed):.2f}"
        )


if __name__ == "__main__":
    main()
