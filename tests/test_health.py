"""The health server on loopback: /healthz, /metrics from a real SQLite file."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.error import HTTPError

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from tracker.errors import ConfigError
from tracker.health import HealthServer, Metrics, database_check
from tracker.store.db import open_engine
from tracker.store.models import Entry, Notification, Revision, Source

pytestmark = pytest.mark.database

SYNCED_AT = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)
# No proxy, whatever the environment says: every request stays on loopback.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database with two sources, entries and messages."""
    engine = open_engine(database_url)
    with Session(engine) as session:
        vendor = Source(
            name="vendor",
            kind="git",
            location="/repo",
            path="CHANGES.md",
            last_synced_at=SYNCED_AT,
            consecutive_failures=2,
        )
        session.add(vendor)
        session.add(Source(name="other", kind="git", location="/other", path="a.md"))
        session.flush()
        revision = Revision(
            source_id=vendor.id or 0,
            commit="abc123",
            committed_at=SYNCED_AT,
            path="CHANGES.md",
            entry_count=4,
        )
        session.add(revision)
        session.flush()
        for number, (status, removed) in enumerate(
            [("planned", False), ("planned", False), ("done", False), ("planned", True)]
        ):
            session.add(make_entry(vendor, revision, number, status, removed))
        for number, status in enumerate(["pending", "pending", "sent"]):
            session.add(
                Notification(
                    key=f"alert:team:{number}",
                    channel="team",
                    kind="alert",
                    due_at=SYNCED_AT,
                    next_attempt_at=SYNCED_AT,
                    status=status,
                )
            )
        session.commit()
    yield engine
    engine.dispose()


def make_entry(
    source: Source, revision: Revision, number: int, status: str, removed: bool
) -> Entry:
    """An entry of ``source`` first and last seen in ``revision``."""
    return Entry(
        source_id=source.id or 0,
        key=f"entry-{number}",
        status=status,
        title=f"Change {number}",
        date_text="soon",
        precision="day",
        removed=removed,
        first_revision_id=revision.id or 0,
        last_revision_id=revision.id or 0,
    )


@pytest.fixture
def start_server(engine: Engine) -> Iterator[Callable[..., HealthServer]]:
    """Start health servers on a free loopback port; stop them afterwards."""
    started: list[HealthServer] = []

    def start(check: Callable[[], str | None] | None = None) -> HealthServer:
        server = HealthServer(
            "127.0.0.1:0",
            Metrics(engine),
            check or (lambda: database_check(engine)),
        )
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def fetch(server: HealthServer, path: str) -> tuple[int, str, str]:
    """GET ``path``: the status, the content type and the body."""
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with OPENER.open(url, timeout=5) as response:
            body: bytes = response.read()
            return response.status, response.headers["Content-Type"], body.decode()
    except HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read().decode()


def scrape(server: HealthServer) -> Samples:
    """Every sample of /metrics by name and labels."""
    status, content_type, body = fetch(server, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def labels(**values: str) -> frozenset[tuple[str, str]]:
    """Labels as the keys of ``Samples`` hold them."""
    return frozenset(values.items())


def test_healthz_answers_ok_while_the_database_answers(
    start_server: Callable[..., HealthServer],
) -> None:
    server = start_server()

    assert fetch(server, "/healthz") == (200, "text/plain; charset=utf-8", "ok\n")


def test_healthz_answers_503_with_the_reason_on_one_line(
    start_server: Callable[..., HealthServer],
) -> None:
    server = start_server(lambda: "database unreachable:\nconnection refused")

    status, _, body = fetch(server, "/healthz")

    assert status == 503
    assert body == "database unreachable: connection refused\n"


def test_healthz_reports_a_check_that_raises(
    start_server: Callable[..., HealthServer],
) -> None:
    def broken() -> str | None:
        raise RuntimeError("boom")

    server = start_server(broken)

    assert fetch(server, "/healthz")[::2] == (503, "health check failed: boom\n")


def test_livez_answers_ok_while_the_database_does_not(
    engine: Engine, tmp_path: Path
) -> None:
    down = create_engine(f"sqlite:///{tmp_path}/missing/t.db")
    server = HealthServer(
        "127.0.0.1:0", Metrics(engine), lambda: database_check(down), lambda: None
    )
    server.start()
    try:
        ready, live = fetch(server, "/healthz"), fetch(server, "/livez")
    finally:
        server.stop()
        down.dispose()

    assert ready[::2] == (503, "database unreachable: unable to open database file\n")
    assert live[::2] == (200, "ok\n")


def test_livez_reports_its_own_check(
    engine: Engine,
) -> None:
    server = HealthServer(
        "127.0.0.1:0", Metrics(engine), lambda: None, lambda: "scheduler is not running"
    )
    server.start()
    try:
        assert fetch(server, "/livez")[::2] == (503, "scheduler is not running\n")
    finally:
        server.stop()


def test_other_paths_are_not_found(
    start_server: Callable[..., HealthServer],
) -> None:
    server = start_server()

    assert fetch(server, "/")[0] == 404
    assert fetch(server, "/metrics/extra")[0] == 404


def test_metrics_count_the_rows_in_the_database(
    start_server: Callable[..., HealthServer],
) -> None:
    samples = scrape(start_server())

    entries = {
        key: value for key, value in samples.items() if key[0] == "tracker_entries"
    }
    assert entries == {
        ("tracker_entries", labels(source="vendor", status="planned")): 2,
        ("tracker_entries", labels(source="vendor", status="done")): 1,
    }
    outbox = {
        key: value for key, value in samples.items() if key[0] == "tracker_outbox"
    }
    assert outbox == {
        ("tracker_outbox", labels(status="pending")): 2,
        ("tracker_outbox", labels(status="sent")): 1,
    }
    failures = "tracker_source_consecutive_failures"
    assert samples[(failures, labels(source="vendor"))] == 2
    assert samples[(failures, labels(source="other"))] == 0
    last_sync = "tracker_source_last_sync_timestamp_seconds"
    assert samples[(last_sync, labels(source="vendor"))] == SYNCED_AT.timestamp()
    assert (last_sync, labels(source="other")) not in samples


def test_metrics_show_recorded_syncs_and_deliveries(
    start_server: Callable[..., HealthServer],
) -> None:
    server = start_server()
    server.metrics.record_sync("vendor", ok=True, seconds=0.3)
    server.metrics.record_sync("vendor", ok=True, seconds=0.7)
    server.metrics.record_sync("vendor", ok=False, seconds=12.0)
    server.metrics.record_delivery("team", "reminder", 120.0)

    samples = scrape(server)

    syncs = "tracker_syncs_total"
    assert samples[(syncs, labels(source="vendor", outcome="ok"))] == 2
    assert samples[(syncs, labels(source="vendor", outcome="error"))] == 1
    duration = "tracker_sync_duration_seconds"
    assert samples[(f"{duration}_count", labels(source="vendor"))] == 3
    assert samples[(f"{duration}_sum", labels(source="vendor"))] == pytest.approx(13)
    assert samples[(f"{duration}_bucket", labels(source="vendor", le="1.0"))] == 2
    latency = "tracker_notification_latency_seconds"
    team = {"channel": "team", "kind": "reminder"}
    assert samples[(f"{latency}_sum", labels(**team))] == 120
    assert samples[(f"{latency}_bucket", labels(**team, le="60.0"))] == 0
    assert samples[(f"{latency}_bucket", labels(**team, le="120.0"))] == 1


@pytest.mark.sqlite_only
def test_database_check_names_an_unreachable_database(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/missing/t.db")

    reason = database_check(engine)

    assert reason == "database unreachable: unable to open database file"
    engine.dispose()


def test_a_busy_port_is_a_config_error(
    start_server: Callable[..., HealthServer],
) -> None:
    taken = start_server()
    address = f"127.0.0.1:{taken.port}"

    with pytest.raises(ConfigError, match=f"cannot serve health checks on {address}"):
        HealthServer(address, taken.metrics, lambda: None).start()


def test_a_malformed_address_is_a_config_error(engine: Engine) -> None:
    server = HealthServer("localhost", Metrics(engine), lambda: None)

    with pytest.raises(ConfigError, match="'localhost' is not host:port"):
        server.start()


def test_stop_closes_the_socket(engine: Engine) -> None:
    server = HealthServer("127.0.0.1:0", Metrics(engine), lambda: None)
    server.start()
    port = server.port

    server.stop()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
