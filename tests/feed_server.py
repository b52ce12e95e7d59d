"""A loopback HTTP server for feeds, honouring ETag and Last-Modified.

Tests set what each path serves and read what was asked and answered.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    """What a path answers: a body (with its ETag), or a status and headers."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/atom+xml"
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body, usedforsecurity=False).hexdigest() + '"'


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it, and its answer's status."""

    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int


class FeedServer:
    """Serves ``paths`` on 127.0.0.1 and records every request."""

    def __init__(self) -> None:
        self.paths: dict[str, Served] = {}
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def statuses(self, path: str) -> list[int]:
        with self.lock:
            return [hit.status for hit in self.hits if hit.path == path]

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        served = self.paths.get(handler.path)
        if_none_match = handler.headers.get("If-None-Match")
        if_modified_since = handler.headers.get("If-Modified-Since")
        if served is None:
            status, body, headers = 404, b"not found", {}
        elif served.status != 200:
            status, body, headers = served.status, served.body, served.headers
        elif if_none_match == served.etag or (
            served.last_modified is not None
            and if_modified_since == served.last_modified
        ):
            status, body, headers = 304, b"", {"ETag": served.etag}
        else:
            status, body = 200, served.body
            headers = {"ETag": served.etag, "Content-Type": served.content_type}
            if served.last_modified:
                headers["Last-Modified"] = served.last_modified
        with self.lock:
            self.hits.append(
                Hit(handler.path, if_none_match, if_modified_since, status)
            )
        handler.send_response(status)
        for name, value in {**headers, **(served.headers if served else {})}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if status != 304:
            handler.wfile.write(body)


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    """A running FeedServer, shut down afterwards."""
    server = FeedServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join()


def commits_atom(*commits: str) -> bytes:
    """An Atom feed of commits, newest first, as GitHub serves for a path."""
    entries = "".join(
        f"<entry><id>tag:github.com,2008:Grit::Commit/{sha}</id>"
        f"<title>Commit {sha[:7]}</title><updated>2031-01-01T00:00:00Z</updated>"
        f'<link rel="alternate" href="https://example.invalid/commit/{sha}"/></entry>'
        for sha in commits
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        "<id>tag:github.com,2008:/commits</id><title>Recent Commits</title>"
        f"<updated>2031-01-01T00:00:00Z</updated>{entries}</feed>"
    ).encode()
