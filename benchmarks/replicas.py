"""Measure three dispatchers sharing one PostgreSQL outbox against one alone.

A store holds 2,000 reminders due now for one Slack channel, planned by the
tracker itself. The channel points at the loopback Slack Web API server of
the tests, which answers every request after 20 ms, as Slack would from
afar. ``dispatch`` runs in one process, then in three (each with its own
engine) on a fresh copy of the same store; each round starts once every
process is up. Reported: messages per second for each and their ratio, and
whether every reminder was posted exactly once (the server's accepted posts
counted per outbox row, every row ending sent).

Needs ``--postgres URL`` or ``$TRACKER_TEST_POSTGRES_URL``: a server where
the user may create databases; without one it prints why and exits 0.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as StartSignal
from typing import Any, TypeVar

from common import ROOT, median, print_machine, print_table, quiet_tracker_logs
from outbox_scale import (
    NOW,
    POSTGRES_VARIABLE,
    TODAY,
    TOKEN_VARIABLE,
    entry_rows,
    event_rows,
    finish_load,
    load_rows,
    page_entry,
    postgres_database,
    postgres_server,
    revision_rows,
    source_rows,
    table_of,
)
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from tracker import outbox
from tracker.config import Config
from tracker.dispatch import dispatch
from tracker.store.db import open_engine, session_scope
from tracker.store.models import Entry, Event, Notification, Revision, Source

# The loopback Slack Web API server lives with the tests; the benchmarks run
# from their own folder, so the repository root must be importable first.
sys.path.insert(0, str(ROOT))
from tests.notify.slack_api import CHANNEL_ID, TOKEN, SlackApiServer

# slack_sdk goes through these, even for 127.0.0.1.
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
TARGET = 2.0
# How long a process may take to start, or a round to finish.
DEADLINE = 900.0
# Entry titles end in the entry's id; reminder texts quote the title.
TITLE_ID = re.compile(r"Retire widgets endpoint (\d{6})\b")
T = TypeVar("T")


def replica_settings(base_url: str | None) -> dict[str, Any]:
    """The config: one Slack channel, reminded a day ahead."""
    channel = {
        "name": "team",
        "type": "slack",
        "channel": CHANNEL_ID,
        "token_env": TOKEN_VARIABLE,
        "reminders": ["1d"],
    }
    if base_url is not None:
        channel["base_url"] = base_url
    return {"channels": [channel]}


def seed_store(url: str, messages: int) -> None:
    """Fill the store with ``messages`` entries dated tomorrow and let the
    tracker plan their reminders, due at 09:00 today."""
    engine = open_engine(url)
    try:
        entries = [
            page_entry(index, TODAY + timedelta(days=1)) for index in range(messages)
        ]
        load_rows(engine, table_of(Source), source_rows())
        load_rows(engine, table_of(Revision), revision_rows())
        load_rows(engine, table_of(Entry), entry_rows(entries))
        load_rows(engine, table_of(Event), event_rows(entries))
        finish_load(engine)
        config = Config.model_validate(replica_settings(None))
        with session_scope(engine) as session:
            outbox.plan(session, config, NOW)
        # Counted in the table: plan's own count is not reliable on PostgreSQL.
        with Session(engine) as session:
            planned = len(session.exec(select(Notification.id)).all())
    finally:
        engine.dispose()
    if planned != messages:
        raise SystemExit(f"planned {planned} reminders, expected {messages}")


def run_dispatcher(
    url: str,
    settings: dict[str, Any],
    ready: multiprocessing.Queue[int],
    start: StartSignal,
    done: multiprocessing.Queue[tuple[int, Counter[str]]],
) -> None:
    """One replica: open its engine, wait for the start, dispatch everything due."""
    quiet_tracker_logs()
    engine = open_engine(url)
    config = Config.model_validate(settings)
    ready.put(os.getpid())
    start.wait()
    outcomes = dispatch(engine, config, NOW)
    done.put((os.getpid(), Counter(outcome.status for outcome in outcomes)))
    engine.dispose()


@dataclass(frozen=True)
class Round:
    """One dispatch round: its processes, how long it took, what each sent."""

    processes: int
    seconds: float
    sent: list[int]
    problems: list[str]


def run_round(
    server: str, seed: str, processes: int, messages: int, latency: float
) -> Round:
    """Dispatch a fresh copy of the seed store with ``processes`` replicas."""
    with postgres_database(server, "bench_replicas_run", template=seed) as url:
        slack = SlackApiServer()
        slack.start()
        try:
            # Each queued pause is taken by one request, then answered normally.
            slack.fail_next(delay=latency, times=messages + 100)
            seconds, results = time_dispatchers(
                url, replica_settings(slack.base_url), processes
            )
            problems = check_exactly_once(url, slack, messages)
        finally:
            slack.stop()
    unsent = [
        f"{status} {count}"
        for _, counts in results
        for status, count in counts.items()
        if status != "sent"
    ]
    if unsent:
        problems.append(f"outcomes other than sent: {', '.join(unsent)}")
    sent = sorted((counts["sent"] for _, counts in results), reverse=True)
    return Round(processes, seconds, sent, problems)


def time_dispatchers(
    url: str, settings: dict[str, Any], processes: int
) -> tuple[float, list[tuple[int, Counter[str]]]]:
    """Start ``processes`` replicas, release them at once; the seconds until
    the last finished, and each one's outcomes."""
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[int] = context.Queue()
    done: multiprocessing.Queue[tuple[int, Counter[str]]] = context.Queue()
    start = context.Event()
    workers = [
        context.Process(target=run_dispatcher, args=(url, settings, ready, start, done))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            wait_for(ready, workers)
        started = time.perf_counter()
        start.set()
        results = [wait_for(done, workers) for _ in workers]
        seconds = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.join(timeout=DEADLINE)
    return seconds, results


def wait_for(results: multiprocessing.Queue[T], workers: Sequence[BaseProcess]) -> T:
    """The next result; stop at once if a process died (its traceback is above)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            return results.get(timeout=1)
        except queue.Empty:
            if any(worker.exitcode not in (None, 0) for worker in workers):
                raise SystemExit("a dispatcher process failed") from None
    raise SystemExit(f"no dispatcher finished within {DEADLINE:.0f} s")


def check_exactly_once(url: str, slack: SlackApiServer, messages: int) -> list[str]:
    """What went wrong: a row not sent, posted twice or never, a stray post."""
    engine = open_engine(url)
    try:
        with Session(engine) as session:
            rows = session.exec(select(Notification)).all()
    finally:
        engine.dispose()
    keys = {row.entry_id: row.key for row in rows}
    posts: Counter[str] = Counter()
    for payload in slack.posted():
        found = TITLE_ID.search(str(payload.get("text", "")))
        posts[keys.get(int(found.group(1)), "?") if found else "?"] += 1

    problems = []
    unsent = [row.key for row in rows if row.status != "sent"]
    twice = [key for key, count in posts.items() if count > 1]
    never = [row.key for row in rows if posts[row.key] == 0]
    for what, keys_found in (
        ("rows not sent", unsent),
        ("rows posted more than once", twice),
        ("rows never posted", never),
    ):
        if keys_found:
            problems.append(f"{len(keys_found)} {what}, e.g. {keys_found[0]}")
    if len(rows) != messages:
        problems.append(f"{len(rows)} rows for {messages} reminders")
    if posts["?"]:
        problems.append(f"{posts['?']} posts of no reminder")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", metavar="URL", help=f"server (default ${POSTGRES_VARIABLE})"
    )
    parser.add_argument("--messages", type=int, default=2000, help="reminders due")
    parser.add_argument(
        "--latency-ms", type=float, default=20.0, help="Slack's answer delay"
    )
    parser.add_argument(
        "--replicas", type=int, default=3, help="processes to compare with one"
    )
    parser.add_argument("--repeats", type=int, default=1, help="rounds of each")
    args = parser.parse_args()
    server = postgres_server(args.postgres)
    if server is None:
        print(
            f"replicas skipped: pass --postgres URL or set {POSTGRES_VARIABLE} to a "
            'server where the user may create databases, e.g. eval "$(.ci/postgres start)"'
        )
        return
    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)
    os.environ[TOKEN_VARIABLE] = TOKEN
    quiet_tracker_logs()

    print(
        f"{args.messages:,} reminders due for one Slack channel answering after "
        f"{args.latency_ms:.0f} ms; 1 dispatcher against {args.replicas}, "
        f"median of {args.repeats} rounds"
    )
    print_machine()
    rounds: dict[int, list[Round]] = {1: [], args.replicas: []}
    with postgres_database(server, "bench_replicas_seed") as seed_url:
        seed_store(seed_url, args.messages)
        seed = make_url(seed_url).database or ""
        for _ in range(args.repeats):
            for processes in rounds:
                rounds[processes].append(
                    run_round(
                        server, seed, processes, args.messages, args.latency_ms / 1000
                    )
                )
    report(rounds, args.messages, args.replicas)


def report(rounds: dict[int, list[Round]], messages: int, replicas: int) -> None:
    """Print the rates and their ratio; exit non-zero on a miss."""
    rates = {
        processes: median([messages / done.seconds for done in runs])
        for processes, runs in rounds.items()
    }
    print_table(
        ["dispatchers", "median s", "messages/s", "sent per process (last round)"],
        [
            (
                processes,
                f"{median([done.seconds for done in runs]):.1f}",
                f"{rates[processes]:.1f}",
                "/".join(str(count) for count in runs[-1].sent),
            )
            for processes, runs in rounds.items()
        ],
    )
    ratio = rates[replicas] / rates[1]
    print(f"{replicas} dispatchers / 1: {ratio:.2f}x (target at least {TARGET:.0f}x)")
    problems = [
        f"{done.processes} dispatchers: {problem}"
        for runs in rounds.values()
        for done in runs
        for problem in done.problems
    ]
    print("every reminder posted exactly once" if not problems else "\n".join(problems))
    if ratio < TARGET:
        problems.append(f"{replicas} dispatchers / 1 is {ratio:.2f}x")
    if problems:
        raise SystemExit("missed: " + "; ".join(problems))


if __name__ == "__main__":
    main()
