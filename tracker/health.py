"""The daemon's health check and Prometheus metrics, served over HTTP.

``GET /healthz`` answers 200 while the daemon can do its work and 503 with the
reason when it cannot; ``GET /metrics`` gives the Prometheus text format.
Counts that live in the database (entries, outbox, source health) are read at
each scrape, so they are right even after a restart.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from tracker.errors import ConfigError
from tracker.store.models import Entry, Notification, Source

log = logging.getLogger(__name__)

# A sync is a git fetch and a parse: well under a second when nothing changed,
# up to minutes for a first clone of a large repository.
SYNC_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# A message is sent seconds after it falls due, unless quiet hours, a digest
# period or retries hold it back for hours.
LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
# How often the serving thread checks whether stop() was called.
POLL_INTERVAL = 0.1
# A client that sends nothing for this long is dropped.
REQUEST_TIMEOUT = 10


class Metrics:
    """The daemon's metrics, in a registry of their own.

    Counters and histograms are recorded by the daemon as things happen; the
    gauges are read from the database through ``engine`` at each scrape.
    """

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.syncs = Counter(
            "tracker_syncs",
            "Syncs of a source, by outcome (ok or error).",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.sync_duration = Histogram(
            "tracker_sync_duration_seconds",
            "How long a sync of a source took, whatever its outcome.",
            ["source"],
            buckets=SYNC_BUCKETS,
            registry=self.registry,
        )
        self.notification_latency = Histogram(
            "tracker_notification_latency_seconds",
            "Seconds from a message's due time to its delivery.",
            ["channel", "kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(StoreCollector(engine))

    def record_sync(self, source: str, ok: bool, seconds: float) -> None:
        """Count one finished sync of ``source`` and how long it took."""
        self.syncs.labels(source=source, outcome="ok" if ok else "error").inc()
        self.sync_duration.labels(source=source).observe(seconds)

    def record_delivery(self, channel: str, kind: str, latency_seconds: float) -> None:
        """Record one delivered message, ``latency_seconds`` after it fell due.

        A negative latency (sent early, or clocks that disagree) counts as 0.
        """
        histogram = self.notification_latency.labels(channel=channel, kind=kind)
        histogram.observe(max(latency_seconds, 0.0))

    def render(self) -> bytes:
        """The current metrics in the Prometheus text format."""
        return generate_latest(self.registry)


class StoreCollector(Collector):
    """Reads entry, outbox and source gauges from the database at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Metric]:
        """Name the gauges without querying, for the registry's clash check."""
        yield from empty_families()

    def collect(self) -> Iterator[Metric]:
        """Count entries, outbox rows and source health with a few GROUP BYs.

        When the database cannot be read the gauges are left out of the
        scrape; ``/healthz`` reports why.
        """
        entries, outbox, failures, last_sync = empty_families()
        try:
            with Session(self.engine) as session:
                fill_store_gauges(session, entries, outbox, failures, last_sync)
        except SQLAlchemyError as error:
            reason = str(error).splitlines()[0]
            log.warning("metrics scrape skipped store gauges error=%s", reason)
            return
        yield from (entries, outbox, failures, last_sync)


def empty_families() -> tuple[
    GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily
]:
    """The four database gauges, without samples yet."""
    return (
        GaugeMetricFamily(
            "tracker_entries",
            "Entries on the pages now (not removed), by source and status.",
            labels=["source", "status"],
        ),
        GaugeMetricFamily(
            "tracker_outbox",
            "Messages in the outbox, by status.",
            labels=["status"],
        ),
        GaugeMetricFamily(
            "tracker_source_consecutive_failures",
            "Syncs of a source that failed in a row since its last success.",
            labels=["source"],
        ),
        GaugeMetricFamily(
            "tracker_source_last_sync_timestamp_seconds",
            "Unix time of a source's last successful sync; absent before the first.",
            labels=["source"],
        ),
    )


def fill_store_gauges(
    session: Session,
    entries: GaugeMetricFamily,
    outbox: GaugeMetricFamily,
    failures: GaugeMetricFamily,
    last_sync: GaugeMetricFamily,
) -> None:
    """Add the samples of the database gauges, three queries in all."""
    entry_counts = session.exec(
        select(Source.name, Entry.status, func.count())
        .join(Source, col(Entry.source_id) == col(Source.id))
        .where(col(Entry.removed).is_(False))
        .group_by(col(Source.name), col(Entry.status))
    ).all()
    for source, status, count in entry_counts:
        entries.add_metric([source, status], count)

    outbox_counts = session.exec(
        select(Notification.status, func.count()).group_by(col(Notification.status))
    ).all()
    for status, count in outbox_counts:
        outbox.add_metric([status], count)

    sources = session.exec(
        select(Source.name, Source.consecutive_failures, Source.last_synced_at)
    ).all()
    for name, failed, synced_at in sources:
        failures.add_metric([name], failed)
        if synced_at is not None:
            last_sync.add_metric([name], synced_at.timestamp())
    log.debug(
        "metrics store gauges entries=%d outbox=%d sources=%d",
        len(entry_counts),
        len(outbox_counts),
        len(sources),
    )


def database_check(engine: Engine) -> str | None:
    """Return None when the database answers, else a one-line reason."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        detail = getattr(error, "orig", None) or error
        return f"database unreachable: {str(detail).splitlines()[0]}"
    return None


class HealthServer:
    """Serves /healthz, /livez and /metrics from a thread of its own.

    ``address`` is "host:port" ("127.0.0.1:9465", "[::1]:9465"); port 0
    picks a free port, readable as ``port`` after start(). ``check`` returns
    None while all is well, else the reason to report with a 503: it answers
    /healthz (ready: the scheduler runs and the database answers). ``live``
    answers /livez, the narrower question a restart can fix (the scheduler
    runs; a database outage is not the process's fault); without it, /livez
    answers 200 while the server serves.
    """

    def __init__(
        self,
        address: str,
        metrics: Metrics,
        check: Callable[[], str | None],
        live: Callable[[], str | None] | None = None,
    ) -> None:
        self.address = address
        self.metrics = metrics
        self.check = check
        self.live = live or (lambda: None)
        self.server: HealthHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on; raises RuntimeError before start()."""
        if self.server is None:
            raise RuntimeError("the health server is not started")
        return int(self.server.server_address[1])

    def start(self) -> None:
        """Listen on the address and serve requests until stop().

        Raises ConfigError when the address is malformed or cannot be bound.
        """
        host, port = split_address(self.address)
        try:
            self.server = HealthHTTPServer(
                (host, port), self.metrics, self.check, self.live
            )
        except OSError as error:
            raise ConfigError(
                f"cannot serve health checks on {self.address}: {error.strerror or error}; "
                "stop what listens there or choose another host:port"
            ) from None

        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name="health-server",
            daemon=True,
        )
        self.thread.start()
        log.info("health server started address=%s port=%d", host, self.port)

    def stop(self) -> None:
        """Stop serving and close the socket; requests in flight are dropped."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=REQUEST_TIMEOUT)
        self.server = None
        self.thread = None
        log.info("health server stopped")


def split_address(address: str) -> tuple[str, int]:
    """Split "host:port" (IPv6 hosts in brackets); raises ConfigError."""
    host, colon, port_text = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(
            f"health address {address!r} is not host:port; write e.g. '127.0.0.1:9465'"
        )
    return host, int(port_text)


class HealthHTTPServer(ThreadingHTTPServer):
    """An HTTP server that knows the metrics and the check its handler uses."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        metrics: Metrics,
        check: Callable[[], str | None],
        live: Callable[[], str | None],
    ) -> None:
        # The socket is created in super().__init__ with this family.
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.metrics = metrics
        self.check = check
        self.live = live
        super().__init__(address, HealthRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a failed request instead of printing it to stderr."""
        log.exception("health request failed client=%s", client_address)


class HealthRequestHandler(BaseHTTPRequestHandler):
    """Answers GET /healthz, /livez and /metrics; anything else is 404."""

    server: HealthHTTPServer
    timeout = REQUEST_TIMEOUT

    def do_GET(self) -> None:
        """Route the request by its path; the query string is ignored."""
        path = urlsplit(self.path).path
        if path == "/healthz":
            self.answer_health(self.server.check)
        elif path == "/livez":
            self.answer_health(self.server.live)
        elif path == "/metrics":
            self.reply(200, CONTENT_TYPE_LATEST, self.server.metrics.render())
        else:
            self.reply(404, "text/plain; charset=utf-8", b"not found\n")

    def answer_health(self, check: Callable[[], str | None]) -> None:
        """200 "ok" when ``check`` passes, else 503 with its reason."""
        try:
            reason = check()
        except Exception as error:
            # The HTTP boundary: a broken check is reported, not crashed on.
            log.exception("health check raised")
            reason = f"health check failed: {error}"
        if reason is None:
            self.reply(200, "text/plain; charset=utf-8", b"ok\n")
            return
        line = " ".join(reason.split()) + "\n"
        self.reply(503, "text/plain; charset=utf-8", line.encode())

    def reply(self, status: int, content_type: str, body: bytes) -> None:
        """Send a complete response."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Log each request at DEBUG instead of printing it to stderr."""
        log.debug("health request client=%s %s", self.client_address[0], format % args)
