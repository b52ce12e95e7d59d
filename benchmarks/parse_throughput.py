"""Time ``parse_page`` on large generated markdown pages and show how it scales.

Each page has two sections (Upcoming, Completed) holding one ``| Date |
Change |`` table each; every cell reads ``**Title**<br><br>details`` and the
dates cycle through "March 3rd 2031", "November 20, 2030. 9:00am ET",
"Q2 2031", "2031-05-06" and "Soon". The time of a parse is split into its
stages: markdown-it rendering the page to HTML, BeautifulSoup building the
tree from that HTML (both inside ``parse_markdown``), and ``extract_entries``
reading the rows. Peak memory is taken by tracemalloc in a separate run,
because tracing slows the parse down about twofold.
"""

from __future__ import annotations

import argparse
import re
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from common import generate_page, human, median, print_machine, print_table

import tracker.parsing
import tracker.parsing.markdown
from tracker.config import DEFAULT_COMPLETED_HEADINGS, DEFAULT_UPCOMING_HEADINGS
from tracker.parsing import PageRules, parse_page

SIZES = (1_000, 10_000)
# Fewer runs of the large page: one takes tens of seconds on a 2-core machine.
REPEATS = {1_000: 5, 10_000: 3}

RULES = PageRules(
    zone=ZoneInfo("America/New_York"),
    reference=datetime(2030, 6, 1, tzinfo=UTC),
    upcoming_headings=tuple(re.compile(p, re.I) for p in DEFAULT_UPCOMING_HEADINGS),
    completed_headings=tuple(re.compile(p, re.I) for p in DEFAULT_COMPLETED_HEADINGS),
)


def parse(text: str) -> int:
    """Parse ``text`` as the sync does; return the number of entries."""
    return len(parse_page(text, page_format="markdown", rules=RULES).entries)


@contextmanager
def stage_clocks() -> Iterator[dict[str, float]]:
    """Add up the seconds spent in each parsing stage while the block runs.

    The stages are swapped for timing wrappers in the modules that call
    them, so ``parse_page`` itself runs unchanged.
    """
    spent: dict[str, float] = defaultdict(float)

    def clocked(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    swaps = [
        (tracker.parsing, "parse_markdown", "markdown"),
        (tracker.parsing.markdown, "make_soup", "tree"),
        (tracker.parsing, "extract_entries", "extract"),
    ]
    originals = [getattr(module, name) for module, name, _ in swaps]
    for module, name, stage in swaps:
        setattr(module, name, clocked(stage, getattr(module, name)))
    try:
        yield spent
    finally:
        for (module, name, _), original in zip(swaps, originals, strict=True):
            setattr(module, name, original)


def time_parses(text: str, rows: int, repeats: int) -> list[dict[str, float]]:
    """Parse ``repeats`` times; each run's total and per-stage seconds."""
    runs = []
    for _ in range(repeats):
        with stage_clocks() as spent:
            started = time.perf_counter()
            entries = parse(text)
            total = time.perf_counter() - started
        if entries != rows:
            raise SystemExit(f"a page of {rows} rows parsed to {entries} entries")
        runs.append(
            {
                "total": total,
                "markdown-it": spent["markdown"] - spent["tree"],
                "html tree (bs4)": spent["tree"],
                "extract": spent["extract"],
            }
        )
    return runs


def peak_memory(text: str) -> int:
    """Peak bytes allocated by Python during one parse (tracemalloc)."""
    tracemalloc.start()
    try:
        parse(text)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, help="runs per size (default 5 / 3)")
    parser.add_argument("--no-memory", action="store_true", help="skip tracemalloc")
    args = parser.parse_args()

    # Warm up: imports, compiled patterns and the date parsers' caches.
    parse(generate_page(50))
    results = {}
    for rows in args.rows:
        text = generate_page(rows)
        repeats = args.repeats or REPEATS.get(rows, 3)
        runs = time_parses(text, rows, repeats)
        stages = {key: median([run[key] for run in runs]) for key in runs[0]}
        memory = None if args.no_memory else peak_memory(text)
        results[rows] = (len(text), repeats, stages, memory)

    print("parse_page on generated markdown pages; times are medians")
    print_machine()
    table = []
    for rows, (size, repeats, stages, memory) in results.items():
        table.append(
            (
                f"{rows:,}",
                human(size),
                repeats,
                f"{stages['total']:.2f}",
                f"{rows / stages['total']:,.0f}",
                f"{stages['total'] / rows * 1000:.2f}",
                "-" if memory is None else human(memory),
            )
        )
    print_table(
        ["rows", "page", "runs", "seconds", "rows/s", "ms/row", "peak memory"], table
    )

    print()
    print("time split (seconds, share of the parse)")
    split = [
        (f"{rows:,}", *(f"{s[k]:.2f} ({s[k] / s['total']:.0%})" for k in list(s)[1:]))
        for rows, (_, _, s, _) in results.items()
    ]
    print_table(["rows", "markdown-it", "html tree (bs4)", "extract"], split)

    if len(results) > 1:
        small, large = min(results), max(results)
        per_row = {
            key: (results[large][2][key] / large) / (results[small][2][key] / small)
            for key in results[small][2]
            if results[small][2][key] > 0
        }
        print()
        print(
            f"time per row, {large:,} rows / {small:,} rows (1.0 = linear): "
            + ", ".join(f"{key} {ratio:.1f}x" for key, ratio in per_row.items())
        )


if __name__ == "__main__":
    main()
