"""Time a sync whose upstream did not change against the first (cold) sync.

A local repository holds a generated change page of 50 rows. The first sync
of a fresh data folder clones the cache, parses the page and stores the
baseline; a sync after it finds the same tip commit and stores nothing. Both
are timed in-process (``sync_source``) and through the ``tracker`` command in
a subprocess, whose extra time is Python start-up and imports.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import (
    commit_files,
    generate_page,
    init_repo,
    measure,
    median,
    print_machine,
    print_table,
    quiet_tracker_logs,
    spread,
    write_config,
)

import tracker.sources.git as git_source
from tracker.config import load_config
from tracker.store.db import open_engine
from tracker.sync import sync_source

PAGE_PATH = "docs/product-updates/changes.md"
ROWS = 50


def make_upstream(folder: Path) -> Path:
    """A vendor repository: the page plus a few other docs, in two commits."""
    repo = init_repo(folder / "vendor")
    others = {f"docs/guide-{i}.md": f"# Guide {i}\n\nText.\n" for i in range(20)}
    commit_files(repo, others, "Add guides")
    commit_files(repo, {PAGE_PATH: generate_page(ROWS)}, "Add change page")
    return repo


def tracker_command() -> list[str]:
    """The installed console script, or ``python -m tracker`` without one."""
    script = Path(sys.executable).parent / "tracker"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tracker"]


def run_cli(config: Path, *args: str) -> str:
    done = subprocess.run(
        [*tracker_command(), "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"tracker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def sync_in_process(config_path: Path) -> Callable[[], None]:
    """A function that syncs the config's one source with an open engine."""
    config = load_config(config_path)
    engine = open_engine(config.database_url)
    settings = config.sources[0]

    def sync() -> None:
        sync_source(engine, config, settings)

    return sync


def time_cold_in_process(folder: Path, repo: Path, repeats: int) -> list[float]:
    """First syncs, each into a fresh data folder; the schema is made untimed."""
    times = []
    for index in range(repeats):
        place = folder / f"cold-{index}"
        place.mkdir()
        times += measure(
            sync_in_process(write_config(place, repo.as_uri(), PAGE_PATH)), 1
        )
    return times


def time_cold_cli(folder: Path, repo: Path, repeats: int) -> list[float]:
    """First syncs through the command, each into a fresh data folder."""
    times = []
    for index in range(repeats):
        place = folder / f"cold-cli-{index}"
        place.mkdir()
        config = write_config(place, repo.as_uri(), PAGE_PATH)
        times += measure(lambda config=config: run_cli(config, "sync"), 1)
    return times


def count_git_commands(action: Callable[[], None]) -> int:
    """How many git processes ``action`` starts through GitSource."""
    original = git_source.GitSource._run
    calls = 0

    def counting(self: git_source.GitSource, *args: object, **kwargs: object) -> bytes:
        nonlocal calls
        calls += 1
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    git_source.GitSource._run = counting  # type: ignore[method-assign]
    try:
        action()
    finally:
        git_source.GitSource._run = original  # type: ignore[method-assign]
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per figure")
    repeats = parser.parse_args().repeats
    quiet_tracker_logs()

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as temp:
        folder = Path(temp)
        repo = make_upstream(folder)

        cold = time_cold_in_process(folder, repo, repeats)
        warm_place = folder / "warm"
        warm_place.mkdir()
        warm_config = write_config(warm_place, repo.as_uri(), PAGE_PATH)
        warm_sync = sync_in_process(warm_config)
        # The first sync of this folder is a cold one; count its git runs too.
        cold_git = count_git_commands(warm_sync)
        warm_git = count_git_commands(warm_sync)
        warm = measure(warm_sync, repeats)

        cold_cli = time_cold_cli(folder, repo, repeats)
        if "no new revision" not in run_cli(warm_config, "sync"):
            raise SystemExit("a sync without a new commit did not say so")
        warm_cli = measure(lambda: run_cli(warm_config, "sync"), repeats)
        start_up = measure(lambda: run_cli(warm_config, "--version"), repeats)

    print(f"sync of a {ROWS}-row page, file:// repository; median of {repeats} runs")
    print_machine()
    rows = [
        ("first sync, in-process", cold, cold_git),
        ("no-change sync, in-process", warm, warm_git),
        ("first sync, CLI subprocess", cold_cli, ""),
        ("no-change sync, CLI subprocess", warm_cli, ""),
        ("tracker --version (start-up)", start_up, 0),
    ]
    print_table(
        ["case", "median ms", "min-max ms", "git processes"],
        [(name, f"{median(t) * 1000:.0f}", spread(t), git) for name, t, git in rows],
    )
    print(
        f"no-change / first sync: in-process {median(warm) / median(cold):.2f}, "
        f"CLI {median(warm_cli) / median(cold_cli):.2f}"
    )
    print(
        f"CLI no-change sync minus in-process: "
        f"{(median(warm_cli) - median(warm)) * 1000:.0f} ms "
        f"(start-up is {median(start_up) / median(warm_cli):.0%} of the CLI run)"
    )


if __name__ == "__main__":
    main()
