"""Time the backfill of a real vendor page's 31-revision history.

The history comes from ../shared/fixtures/clarifai-upcoming-history.bundle,
cloned into a bare repository that serves partial clones over file://. Each
run starts from an empty data folder, so it includes the cache clone, the
deepening, the fetch of the page's blobs, parsing every revision and storing
the events. The fetch (``GitSource.history``) and the parsing are also timed
on their own, so that the rest is the replay and the database writes.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import (
    BUNDLE,
    git,
    measure,
    median,
    print_machine,
    print_table,
    quiet_tracker_logs,
    spread,
    timed,
    write_config,
)

from tracker.config import Config, SourceSettings, load_config
from tracker.sources.base import PageRevision
from tracker.store.db import open_engine
from tracker.sync import backfill_source, build_source, read_page

PAGE_PATH = "product-updates/upcoming-api-changes.md"
REVISIONS = 31


def make_upstream(folder: Path) -> Path:
    """A bare repository holding the bundle's history on branch master."""
    remote = folder / "clarifai.git"
    git("clone", "--quiet", "--bare", BUNDLE, remote)
    git("-C", remote, "config", "uploadpack.allowFilter", "true")
    return remote


def fresh_config(folder: Path, remote: Path, name: str) -> Config:
    """A config with its own empty data folder."""
    place = folder / name
    place.mkdir()
    return load_config(
        write_config(
            place,
            remote.as_uri(),
            PAGE_PATH,
            name="clarifai",
            branch="master",
            timezone="America/New_York",
        )
    )


def parse_all(
    config: Config, settings: SourceSettings, pages: list[PageRevision]
) -> None:
    """Parse every revision, as the backfill does."""
    for page in pages:
        read_page(config, settings, page)


def time_cold_backfill(folder: Path, remote: Path, name: str) -> float:
    """Backfill into an empty data folder; check that every revision was read."""
    config = fresh_config(folder, remote, name)
    engine = open_engine(config.database_url)
    seconds, result = timed(lambda: backfill_source(engine, config, config.sources[0]))
    engine.dispose()
    if result.revisions != REVISIONS or result.skipped:
        raise SystemExit(f"expected {REVISIONS} revisions read, got {result}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure")
    repeats = parser.parse_args().repeats
    quiet_tracker_logs()
    if not BUNDLE.exists():
        print(f"skipped: vendor history bundle not found at {BUNDLE}")
        return

    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as temp:
        folder = Path(temp)
        remote = make_upstream(folder)

        backfills, fetches = [], []
        for index in range(repeats):
            backfills.append(time_cold_backfill(folder, remote, f"backfill-{index}"))
            config = fresh_config(folder, remote, f"fetch-{index}")
            source = build_source(config, config.sources[0])
            seconds, pages = timed(source.history)
            fetches.append(seconds)

        # Parsing alone, and a second backfill over the last backfill's store.
        parses = measure(lambda: parse_all(config, config.sources[0], pages), repeats)
        config = load_config(folder / f"backfill-{repeats - 1}" / "tracker.toml")
        engine = open_engine(config.database_url)
        again = measure(
            lambda: backfill_source(engine, config, config.sources[0]), repeats
        )

    print(
        f"backfill of {REVISIONS} revisions from {BUNDLE.name}; median of {repeats} runs"
    )
    print_machine()
    whole = median(backfills)
    rows = [
        ("backfill, empty data folder", backfills),
        ("  fetch only (GitSource.history)", fetches),
        ("  parse all revisions (warm cache)", parses),
        ("backfill again (warm cache, all stored)", again),
    ]
    print_table(
        ["case", "median ms", "min-max ms", "ms per revision"],
        [
            (
                name,
                f"{median(t) * 1000:.0f}",
                spread(t),
                f"{median(t) * 1000 / REVISIONS:.1f}",
            )
            for name, t in rows
        ],
    )
    rest = whole - median(fetches) - median(parses)
    print(
        f"share of the cold backfill: fetch {median(fetches) / whole:.0%}, "
        f"parse {median(parses) / whole:.0%}, replay and store {rest / whole:.0%}"
    )


if __name__ == "__main__":
    main()
