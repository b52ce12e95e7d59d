"""Helpers shared by the benchmark scripts: git, timing, pages and tables."""

from __future__ import annotations

import calendar
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "fixtures" / "clarifai-upcoming-history.bundle"

# One fixed identity and no user config, so that commits are made the same way
# on every machine and no global hook or signing setting gets in the way.
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Docs",
    "GIT_AUTHOR_EMAIL": "docs@example.com",
    "GIT_COMMITTER_NAME": "Docs",
    "GIT_COMMITTER_EMAIL": "docs@example.com",
}

# Date spellings vendors use, with ``{…}`` filled in per row.
DATE_SPELLINGS = (
    "{month} {day}{suffix} {year}",
    "{month} {day}, {year}. 9:00am ET",
    "Q{quarter} {year}",
    "{year}-{month_number:02d}-{day:02d}",
    "Soon",
)
MONTHS = tuple(calendar.month_name[1:])


def quiet_tracker_logs() -> None:
    """Drop the tracker's log records (such as date warnings) instead of printing.

    Without a handler Python prints WARNING records to stderr, once per parsed
    revision, which would bury the result table.
    """
    logging.getLogger("tracker").addHandler(logging.NullHandler())


def git(*args: str | Path, input: bytes | None = None) -> str:
    """Run git and return its output; raise on failure."""
    command = ["git", *map(str, args)]
    done = subprocess.run(command, capture_output=True, input=input, env=GIT_ENV)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode()}")
    return done.stdout.decode()


def init_repo(path: Path, *, bare: bool = False) -> Path:
    """Create a repository on branch main that serves partial clones."""
    git("init", "--quiet", "--initial-branch=main", *(["--bare"] if bare else []), path)
    git("-C", path, "config", "uploadpack.allowFilter", "true")
    return path


def commit_files(repo: Path, files: dict[str, str | bytes], message: str) -> str:
    """Write ``files`` (path -> content) in ``repo``, commit, return the commit id."""
    for name, content in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    git("-C", repo, "add", "-A")
    git("-C", repo, "commit", "--quiet", "--no-verify", "-m", message)
    return git("-C", repo, "rev-parse", "HEAD").strip()


def write_config(
    folder: Path,
    repo: str,
    path: str,
    *,
    name: str = "vendor",
    branch: str = "main",
    timezone: str = "America/New_York",
) -> Path:
    """Write a config tracking ``path`` in ``repo``, state kept under ``folder``."""
    config = folder / "tracker.toml"
    config.write_text(
        f'[tracker]\ndata_dir = "{folder / "data"}"\n\n'
        f'[[sources]]\nname = "{name}"\nrepo = "{repo}"\nbranch = "{branch}"\n'
        f'path = "{path}"\ntimezone = "{timezone}"\n',
        encoding="utf-8",
    )
    return config


def date_text(index: int) -> str:
    """A date cell for row ``index``, cycling through the vendors' spellings."""
    month_number = index % 12 + 1
    day = index % 28 + 1
    suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd"}.get(day, "th")
    return DATE_SPELLINGS[index % len(DATE_SPELLINGS)].format(
        month=MONTHS[month_number - 1],
        month_number=month_number,
        day=day,
        suffix=suffix,
        year=2030 + index % 3,
        quarter=index % 4 + 1,
    )


def table_row(index: int) -> str:
    """One ``| Date | Change |`` row with a bold title and details."""
    details = (
        f"Calls to `GET /v1/widgets/{index}` will return 410.<br>"
        f"- Use `/v2/widgets/{index}` instead<br>- See [the guide](#guide-{index})"
    )
    title = f"**Retire widgets endpoint number {index}**"
    return f"| {date_text(index)} | {title}<br><br>{details} |"


def generate_page(rows: int) -> str:
    """A change page with ``rows`` rows split between Upcoming and Completed."""
    upcoming = rows // 2
    header = "| Date | Change |\n| ---- | ------ |\n"
    lines = [
        "# Upcoming changes to the Widgets API\n",
        "Here is what will change. See the [docs](https://example.com/docs).\n",
        "## Upcoming Changes\n",
        header + "\n".join(table_row(i) for i in range(upcoming)) + "\n",
        "## Completed Changes\n",
        header + "\n".join(table_row(i) for i in range(upcoming, rows)) + "\n",
    ]
    return "\n".join(lines)


def measure(action: Callable[[], object], repeats: int) -> list[float]:
    """Run ``action`` ``repeats`` times; return each run's wall time in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def timed(action: Callable[[], T]) -> tuple[float, T]:
    """Run ``action`` once; return its wall time in seconds and its result."""
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """Min and max, to show how noisy a median is."""
    return f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f}"


def directory_size(path: Path) -> int:
    """Bytes of all files under ``path`` (apparent size, not blocks)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def count_objects(git_dir: Path) -> dict[str, str]:
    """``git count-objects -v`` as a dict (sizes in KiB)."""
    output = git("--git-dir", git_dir, "count-objects", "-v")
    return dict(line.split(": ", 1) for line in output.splitlines())


def object_bytes(git_dir: Path) -> int:
    """Bytes of loose objects and packs in ``git_dir`` (from ``count-objects``)."""
    counted = count_objects(git_dir)
    return (int(counted["size"]) + int(counted["size-pack"])) * 1024


def human(size: float) -> str:
    """Bytes as KiB/MiB with one decimal."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain aligned table; numbers right-aligned."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )

    print(line(cells[0]))
    print("  ".join("-" * width for width in widths))
    for row in cells[1:]:
        print(line(row))


def print_machine() -> None:
    """One line on where the figures were taken."""
    print(
        f"machine: {os.cpu_count()} cpus, Python {platform.python_version()}, "
        f"{git('--version').strip()}, {sys.platform}"
    )
