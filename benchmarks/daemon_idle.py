"""Measure what ``tracker run`` costs while nothing changes upstream.

Twenty local repositories, each holding a small change page, are tracked
with ``interval = "1m"`` and one Slack channel on a loopback server. Once the
daemon has made its first syncs (and sent one summary per source), its
resident memory and CPU time are read from ``/proc`` over a window of 60
seconds. The CPU time includes the git processes the daemon starts, which do
most of a sync's work.

Jitter is off, so every source is synced exactly once a minute: the most a
one-minute interval asks for. The window starts half an interval after the
daemon did, between two rounds of syncs, so a window whose length is a
multiple of the interval holds whole rounds. (Against a longer interval it
starts half the window in: ``--interval 1h`` measures the daemon at rest.)

Targets, for "cheap when nothing changes":

- CPU under 2% of one core averaged over the window. A no-change sync is one
  ``git fetch`` that finds the same tip plus a read of the page and a few
  queries (about 40 ms of wall time, see ``sync_nochange.py``); twenty of them
  a minute stay near 1% of a core, and the daemon should add almost nothing
  while it waits between rounds.
- Resident memory grows by less than 5 MB over the window. A no-change
  round stores nothing, so growth round after round would be a leak; the first
  rounds may still warm caches, hence a margin rather than zero.

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from common import human, print_machine, print_table
from fleet import (
    RunningDaemon,
    cpu_seconds,
    metric_total,
    resident_bytes,
    running_daemon,
)

from tracker.config import parse_duration

SOURCES = 20
MAX_CPU_SHARE = 0.02
MAX_RSS_GROWTH = 5_000_000


@dataclass
class Sample:
    """The daemon's state at one instant of the window."""

    at: float
    rss: int
    own_cpu: float
    children_cpu: float


def take_sample(pid: int) -> Sample:
    own, children = cpu_seconds(pid)
    return Sample(time.monotonic(), resident_bytes(pid), own, children)


def watch(pid: int, seconds: float) -> list[Sample]:
    """Sample the daemon once a second for ``seconds``."""
    samples = [take_sample(pid)]
    ends = samples[0].at + seconds
    while (now := time.monotonic()) < ends:
        time.sleep(min(1.0, ends - now))
        samples.append(take_sample(pid))
    return samples


@dataclass
class Window:
    """What the daemon did over the measured window."""

    samples: list[Sample]
    first_round: float
    syncs: float
    sync_seconds: float
    messages: int


def count_syncs(daemon: RunningDaemon) -> tuple[float, float]:
    """Syncs the daemon has finished, and the seconds they took in all."""
    samples = daemon.metrics()
    return (
        metric_total(samples, "tracker_syncs_total"),
        metric_total(samples, "tracker_sync_duration_seconds_sum"),
    )


def measure_window(seconds: float, interval: str) -> Window:
    """Run the daemon over the fleet and watch it between rounds of syncs."""
    with running_daemon(SOURCES, interval=interval) as daemon:
        daemon.wait_for(
            lambda: len(daemon.posted()) >= SOURCES, "the first syncs' summaries"
        )
        first_round = time.monotonic() - daemon.started
        between_rounds = min(parse_duration(interval).total_seconds(), seconds) / 2
        time.sleep(max(0.0, daemon.started + between_rounds - time.monotonic()))

        syncs_before, sync_seconds_before = count_syncs(daemon)
        samples = watch(daemon.process.pid, seconds)
        syncs_after, sync_seconds_after = count_syncs(daemon)
        return Window(
            samples,
            first_round,
            syncs_after - syncs_before,
            sync_seconds_after - sync_seconds_before,
            len(daemon.posted()),
        )


def report(window: Window, interval: str) -> list[str]:
    """Print the figures; return the targets missed."""
    first, last = window.samples[0], window.samples[-1]
    seconds = last.at - first.at
    own = last.own_cpu - first.own_cpu
    children = last.children_cpu - first.children_cpu
    share = (own + children) / seconds
    growth = last.rss - first.rss
    cpu_per_sync = wall_per_sync = "-"
    if window.syncs:
        cpu_per_sync = f"{(own + children) / window.syncs * 1000:.0f} ms"
        wall_per_sync = f"{window.sync_seconds / window.syncs * 1000:.0f} ms"

    print(
        f"tracker run, {SOURCES} sources, interval {interval}, no jitter, "
        f"nothing changing; window of {seconds:.0f} s"
    )
    print_machine()
    print_table(
        ["figure", "value"],
        [
            ("first syncs and summaries done after", f"{window.first_round:.1f} s"),
            ("resident memory, start of window", human(first.rss)),
            ("resident memory, end of window", human(last.rss)),
            ("resident memory, highest", human(max(s.rss for s in window.samples))),
            ("resident memory growth", f"{growth / 1e6:+.2f} MB"),
            ("CPU, daemon process", f"{own:.2f} s"),
            ("CPU, its git processes", f"{children:.2f} s"),
            ("CPU, both, share of one core", f"{share:.2%}"),
            ("syncs in the window", f"{window.syncs:.0f}"),
            ("CPU per sync", cpu_per_sync),
            ("wall time per sync (daemon's metrics)", wall_per_sync),
            ("Slack messages (one summary per source)", window.messages),
        ],
    )

    missed = []
    if share >= MAX_CPU_SHARE:
        missed.append(f"CPU {share:.2%} of a core, target under {MAX_CPU_SHARE:.0%}")
    if growth >= MAX_RSS_GROWTH:
        missed.append(f"memory grew {growth / 1e6:.1f} MB, target under 5 MB")
    if window.messages != SOURCES:
        missed.append(f"{window.messages} Slack messages, expected {SOURCES} summaries")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="window length")
    parser.add_argument("--interval", default="1m", help="each source's interval")
    options = parser.parse_args()

    window = measure_window(options.seconds, options.interval)
    missed = report(window, options.interval)
    if missed:
        raise SystemExit("missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
