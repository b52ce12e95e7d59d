"""Time from a pushed commit to the Slack message that tells of it.

``tracker run`` tracks one local repository every 5 seconds (no jitter) and
sends to a Slack channel on a loopback server. After the first sync's
summary, a commit that reschedules one entry is pushed, and the time until
the server receives the chat.postMessage for that alert is taken. Each push
waits a random fraction of the interval first, so pushes land at random
points between two syncs: the latency should average half the interval plus
one sync and one delivery, and never exceed the interval by much.

Target: the slowest push is told within the interval plus 10 seconds.
Exits 1 when it is not.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from common import median, print_machine, print_table
from fleet import RunningDaemon, metric_total, push_reschedule, running_daemon

from tracker.config import parse_duration

MARGIN = 10.0


def alert_arrivals(daemon: RunningDaemon) -> list[float]:
    """When each reschedule alert reached the server (time.monotonic)."""
    return [at for at, text in daemon.posted() if "Rescheduled:" in text]


def mean_observed(samples: dict[str, float], histogram: str, label: str = "") -> float:
    """The mean of a histogram's observations: their sum over their count."""
    count = metric_total(samples, f"{histogram}_count", label)
    return metric_total(samples, f"{histogram}_sum", label) / count


def time_pushes(pushes: int, interval: str) -> tuple[list[float], dict[str, float]]:
    """Each push's latency in seconds, and the daemon's metrics at the end."""
    seconds = parse_duration(interval).total_seconds()
    latencies = []
    with running_daemon(1, interval=interval) as daemon:
        daemon.wait_for(lambda: len(daemon.posted()) == 1, "the summary")
        for push in range(pushes):
            time.sleep(random.uniform(0, seconds))
            push_reschedule(daemon.repos[0], 0, 7 * (push + 1))
            pushed = time.monotonic()
            daemon.wait_for(
                lambda push=push: len(alert_arrivals(daemon)) > push,
                f"the alert of push {push + 1}",
                deadline=seconds + 60,
            )
            latencies.append(alert_arrivals(daemon)[push] - pushed)
        return latencies, daemon.metrics()


def report(latencies: list[float], metrics: dict[str, float], interval: str) -> None:
    """Print the latencies next to what the interval and the metrics predict."""
    seconds = parse_duration(interval).total_seconds()
    syncs = metric_total(metrics, "tracker_syncs_total")
    sync_seconds = mean_observed(metrics, "tracker_sync_duration_seconds")
    # An alert falls due when the sync queues it: this is queue to delivery.
    delivery_seconds = mean_observed(
        metrics, "tracker_notification_latency_seconds", 'kind="alert"'
    )
    expected = seconds / 2 + sync_seconds + delivery_seconds

    print(
        f"pushed commit to Slack message, 1 source, interval {interval}, "
        f"no jitter; {len(latencies)} pushes"
    )
    print_machine()
    print_table(
        ["figure", "seconds"],
        [
            ("latency, median", f"{median(latencies):.2f}"),
            ("latency, mean", f"{statistics.mean(latencies):.2f}"),
            ("latency, max", f"{max(latencies):.2f}"),
            ("latency, min", f"{min(latencies):.2f}"),
            ("interval", f"{seconds:.2f}"),
            (f"mean sync ({syncs:.0f} syncs, daemon's metrics)", f"{sync_seconds:.2f}"),
            ("mean alert delivery after queueing (metrics)", f"{delivery_seconds:.2f}"),
            ("expected mean: interval / 2 + sync + delivery", f"{expected:.2f}"),
        ],
    )
    print("each push:", " ".join(f"{latency:.2f}" for latency in latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=5, help="commits to push")
    parser.add_argument("--interval", default="5s", help="the source's interval")
    options = parser.parse_args()

    latencies, metrics = time_pushes(options.pushes, options.interval)
    report(latencies, metrics, options.interval)
    limit = parse_duration(options.interval).total_seconds() + MARGIN
    if max(latencies) >= limit:
        raise SystemExit(
            f"missed: slowest push told after {max(latencies):.1f} s, "
            f"target under {limit:.0f} s"
        )


if __name__ == "__main__":
    main()
