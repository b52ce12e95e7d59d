"""Real git repositories in a temporary folder, built with the git CLI.

Also HTTP servers on loopback: git's own smart http server (git http-backend),
a static file server, and one that refuses everyone.
"""

from __future__ import annotations

import functools
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import (
    BaseHTTPRequestHandler,
    SimpleHTTPRequestHandler,
    ThreadingHTTPServer,
)
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import pytest

# Commits are dated from here on, one hour apart, so tests can check times.
FIRST_COMMIT_AT = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
PARIS_SUMMER = timezone(timedelta(hours=2))


class GitRepo:
    """A repository with a work tree that tests write to and commit."""

    def __init__(self, path: Path, branch: str) -> None:
        self.path = path
        self.commit_times: dict[str, datetime] = {}
        self._clock = FIRST_COMMIT_AT
        path.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch", branch)

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def git(self, *args: str) -> str:
        """Run git in the work tree; commits get the repository's clock."""
        # Author time lies a day before commit time, which sources must read, and
        # both carry a zone other than UTC.
        committed = self._clock.astimezone(PARIS_SUMMER).isoformat()
        authored = (
            (self._clock - timedelta(days=1)).astimezone(PARIS_SUMMER).isoformat()
        )
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Docs Writer",
            "GIT_AUTHOR_EMAIL": "docs@example.com",
            "GIT_COMMITTER_NAME": "Docs Bot",
            "GIT_COMMITTER_EMAIL": "bot@example.com",
            "GIT_AUTHOR_DATE": authored,
            "GIT_COMMITTER_DATE": committed,
        }
        result = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, check=True
        )
        return result.stdout.decode().strip()

    def write(self, name: str, content: str | bytes) -> None:
        file = self.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            file.write_text(content, encoding="utf-8")
        else:
            file.write_bytes(content)

    def move(self, old: str, new: str) -> None:
        """Move a file with ``git mv``, which git records as a rename."""
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def commit(self, message: str) -> str:
        """Commit everything in the work tree; return the new commit id."""
        self._clock += timedelta(hours=1)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--message", message)
        return self._record_head()

    def merge(self, branch: str) -> str:
        """Merge ``branch`` with a merge commit; return its id."""
        self._clock += timedelta(hours=1)
        self.git("merge", "--quiet", "--no-ff", "--no-edit", branch)
        return self._record_head()

    def _record_head(self) -> str:
        commit = self.git("rev-parse", "HEAD")
        self.commit_times[commit] = self._clock
        return commit


@pytest.fixture(autouse=True)
def isolated_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's and the system's git settings out of the tests."""
    global_config = tmp_path / "gitconfig"
    global_config.touch()
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    """Return a factory of repositories under ``tmp_path``."""

    def make(name: str = "origin", branch: str = "main") -> GitRepo:
        return GitRepo(tmp_path / name, branch)

    return make


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


class GitHttpHandler(BaseHTTPRequestHandler):
    """Serve the repositories under ``root`` over smart http, as git hosts do."""

    root: Path

    def do_GET(self) -> None:
        self.run_backend()

    def do_POST(self) -> None:
        self.run_backend()

    def run_backend(self) -> None:
        """Run git http-backend as a CGI program for this request."""
        path, _, query = self.path.partition("?")
        body = self.read_body()
        env = {
            **os.environ,
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
        }
        # Request headers CGI passes on: gzip bodies and protocol version 2.
        for header in ("Content-Encoding", "Git-Protocol"):
            if header in self.headers:
                env["HTTP_" + header.upper().replace("-", "_")] = self.headers[header]
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True
        )

        head, _, content = result.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return body

    def log_message(self, format: str, *args: Any) -> None:
        """Keep requests out of the test output."""


class StaticHandler(SimpleHTTPRequestHandler):
    """Serve files, as a web server that knows nothing of git does."""

    def log_message(self, format: str, *args: Any) -> None:
        """Keep requests out of the test output."""


class RefusingHandler(BaseHTTPRequestHandler):
    """Ask every request for a password, as a private repository's host does."""

    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="private"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep requests out of the test output."""


ServerKind = Literal["git", "static", "refusing"]


@pytest.fixture
def serve_http() -> Iterator[Callable[[ServerKind, Path], str]]:
    """Return a starter of HTTP servers on 127.0.0.1; each returns its base URL.

    A "git" server serves the repositories under the folder, by name, over
    smart http; a "static" one serves the folder's files.
    """
    servers: list[ThreadingHTTPServer] = []

    def serve(kind: ServerKind, root: Path) -> str:
        handler: Callable[..., BaseHTTPRequestHandler]
        if kind == "git":
            handler = type("Handler", (GitHttpHandler,), {"root": root})
        elif kind == "static":
            handler = functools.partial(StaticHandler, directory=str(root))
        else:
            handler = RefusingHandler
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()
