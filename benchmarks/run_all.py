"""Run every benchmark in turn, each in its own Python process.

Options after the script's name are ignored; run a benchmark on its own to
pass it options. Exits non-zero if any benchmark failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "sync_nochange",
    "backfill",
    "parse_throughput",
    "fetch_bytes",
    "poll_cycle",
    "daemon_idle",
    "push_latency",
    "outbox_scale",
    "replicas",
)


def main() -> None:
    failed = []
    for name in BENCHMARKS:
        print(f"=== {name}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py")], check=False)
        print(f"=== {name}: {time.perf_counter() - started:.0f} s\n", flush=True)
        if done.returncode != 0:
            failed.append(name)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
