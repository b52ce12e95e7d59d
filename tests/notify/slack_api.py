"""A loopback HTTP server that speaks enough of Slack for slack_sdk.

It answers the Web API's ``chat.postMessage``, ``conversations.history`` (with
message metadata) and ``auth.test`` under
``/api/`` and incoming webhooks under ``/services/``, records every request,
and plays back failures queued with ``fail_next``. Answers follow Slack's
documentation: Web API errors are HTTP 200 with ``{"ok": false, "error": ...}``
except rate limits (429 with Retry-After); webhooks answer ``ok`` or a short
error text with a 4xx status.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TOKEN = "xoxb-0000-test-token-s3cr3t"
WEBHOOK_PATH = "/services/T0000/B0000/hooksecretXYZ123"
CHANNEL_ID = "C0TRACKER"

# Slack's ids for the one workspace and bot this server pretends to be.
AUTH_TEST = {
    "url": "https://tracker-test.slack.com/",
    "team": "Tracker Test",
    "user": "tracker",
    "team_id": "T0000",
    "user_id": "U0000",
    "bot_id": "B0000",
}


@dataclass(frozen=True)
class Failure:
    """One queued bad answer: a status, Slack's error code, a pause, or none."""

    status: int = 200
    error: str | None = None
    retry_after: int | str | None = None
    delay: float = 0.0
    drop: bool = False
    taken: bool = False


@dataclass(frozen=True)
class Request:
    """A request as the server saw it, and how it answered.

    The token is left out: the Authorization header and a ``token`` field.
    ``at`` is when it arrived, on the time.monotonic() clock.
    """

    path: str
    headers: dict[str, str]
    payload: dict[str, Any]
    at: float
    authorized: bool
    status: int
    accepted: bool


@dataclass
class SlackApiServer:
    """The server, its recorded requests and its queue of failures.

    ``channels`` are the ids (or #names) chat.postMessage accepts; any other
    answers channel_not_found, as Slack does.
    """

    token: str = TOKEN
    channels: set[str] = field(default_factory=lambda: {CHANNEL_ID})
    requests: list[Request] = field(default_factory=list)
    failures: deque[Failure | None] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    httpd: ThreadingHTTPServer | None = None
    port: int = 0
    ts_counter: int = 0
    # Accepted posts per channel, as conversations.history shows them.
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def start(self) -> None:
        """Listen on a free loopback port and answer in a background thread."""
        handler = type("BoundHandler", (SlackHandler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        # A short poll interval lets stop() return at once instead of in 0.5 s.
        serve = functools.partial(self.httpd.serve_forever, poll_interval=0.02)
        threading.Thread(target=serve, daemon=True).start()

    def stop(self) -> None:
        """Stop answering and free the port; safe to call twice."""
        self.stopping.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def base_url(self) -> str:
        """The Web API root, as a channel's base_url."""
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def webhook_url(self) -> str:
        """The one incoming webhook this server knows."""
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    def fail_next(
        self,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | str | None = None,
        times: int = 1,
        delay: float = 0.0,
        drop: bool = False,
        after: int = 0,
        taken: bool = False,
    ) -> None:
        """Answer ``times`` requests with this failure, after ``after`` good ones.

        The queue ignores paths: it plays to whatever comes next. A 429 without
        ``error`` says "ratelimited"; a 5xx without one sends an HTML page, as
        a load balancer would. ``delay`` seconds pass before the answer; with
        the default status and no error, the answer is then the normal one.
        ``drop`` closes the connection without any answer; with ``taken``
        the request is handled first (a post is in the channel) and only the
        answer is lost.
        """
        failure = Failure(status, error, retry_after, delay, drop, taken)
        with self.lock:
            self.failures.extend([None] * after + [failure] * times)

    def posted(self, path: str = "/api/chat.postMessage") -> list[dict[str, Any]]:
        """Return the payloads that were accepted at ``path``, in order."""
        with self.lock:
            return [r.payload for r in self.requests if r.path == path and r.accepted]

    def next_failure(self) -> Failure | None:
        """Take the next queued failure; None to answer normally."""
        with self.lock:
            return self.failures.popleft() if self.failures else None

    def record(self, request: Request) -> None:
        """Keep a request for the test to inspect."""
        with self.lock:
            self.requests.append(request)

    def next_ts(self) -> str:
        """Return a new message timestamp, as Slack's "seconds.micro" string:
        the time of posting, made unique as Slack makes it."""
        with self.lock:
            self.ts_counter = max(self.ts_counter + 1, int(time.time() * 1_000_000))
            return f"{self.ts_counter // 1_000_000}.{self.ts_counter % 1_000_000:06d}"


class SlackHandler(BaseHTTPRequestHandler):
    """Answer one request from the bound SlackApiServer's state."""

    server_state: SlackApiServer

    def do_POST(self) -> None:
        """Route to the Web API or a webhook, or play a queued failure."""
        arrived = time.monotonic()
        payload = self.read_payload()
        authorized = self.is_authorized(payload)
        failure = self.server_state.next_failure() or Failure()
        self.server_state.stopping.wait(failure.delay)
        headers: dict[str, str] = {}
        if failure.drop and not failure.taken:
            status, body = 0, b""
        elif failure.status != 200 or failure.error is not None:
            status, body, headers = self.failure_answer(failure)
        elif self.path.startswith("/services/"):
            status, body, headers = self.webhook_answer()
        else:
            status, body, headers = self.api_answer(payload, authorized)

        headers_seen = {
            k: v for k, v in self.headers.items() if k.lower() != "authorization"
        }
        payload.pop("token", None)
        accepted = status == 200 and (body == b"ok" or json.loads(body)["ok"] is True)
        self.server_state.record(
            Request(
                self.path, headers_seen, payload, arrived, authorized, status, accepted
            )
        )
        if not failure.drop:
            self.answer(status, body, headers)

    def read_payload(self) -> dict[str, Any]:
        """Parse a JSON or form-encoded body, as slack_sdk sends them."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8")
        if self.headers.get_content_type() == "application/json":
            parsed = json.loads(raw or "{}")
            return parsed if isinstance(parsed, dict) else {"_json": parsed}
        return {key: values[-1] for key, values in parse_qs(raw).items()}

    def is_authorized(self, payload: dict[str, Any]) -> bool:
        """Tell whether the request carries the bot token, in header or body."""
        expected = self.server_state.token
        header = self.headers.get("Authorization", "")
        return header == f"Bearer {expected}" or payload.get("token") == expected

    def api_answer(
        self, payload: dict[str, Any], authorized: bool
    ) -> tuple[int, bytes, dict[str, str]]:
        """Answer a Web API method the way Slack does."""
        method = self.path.removeprefix("/api/").partition("?")[0]
        if not self.path.startswith("/api/"):
            return 404, b"Not Found", {"Content-Type": "text/plain"}
        if "Authorization" not in self.headers and "token" not in payload:
            return api_json({"ok": False, "error": "not_authed"})
        if not authorized:
            return api_json({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            return api_json({"ok": True, **AUTH_TEST})
        if method == "chat.postMessage":
            return self.post_message(payload)
        if method == "conversations.history":
            return self.history(payload)
        return api_json({"ok": False, "error": "unknown_method"})

    def post_message(
        self, payload: dict[str, Any]
    ) -> tuple[int, bytes, dict[str, str]]:
        """Accept a message for a known channel that has text or blocks."""
        channel = payload.get("channel")
        if channel not in self.server_state.channels:
            return api_json({"ok": False, "error": "channel_not_found"})
        if not payload.get("text") and not payload.get("blocks"):
            return api_json({"ok": False, "error": "no_text"})
        ts = self.server_state.next_ts()
        message = {"type": "message", "text": payload.get("text", ""), "ts": ts}
        stored = dict(message)
        if isinstance(payload.get("metadata"), dict):
            stored["metadata"] = payload["metadata"]
        with self.server_state.lock:
            self.server_state.history.setdefault(channel, []).insert(0, stored)
        return api_json({"ok": True, "channel": channel, "ts": ts, "message": message})

    def history(self, params: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        """Answer conversations.history, newest first, with metadata if asked."""
        if params.get("channel") not in self.server_state.channels:
            return api_json({"ok": False, "error": "channel_not_found"})
        oldest = float(params.get("oldest") or 0)
        with self.server_state.lock:
            kept = [
                dict(item)
                for item in self.server_state.history.get(params["channel"], [])
                if float(item["ts"]) > oldest
            ]
        if str(params.get("include_all_metadata")).lower() not in ("1", "true"):
            for item in kept:
                item.pop("metadata", None)
        return api_json({"ok": True, "messages": kept, "has_more": False})

    def webhook_answer(self) -> tuple[int, bytes, dict[str, str]]:
        """Answer an incoming webhook: "ok", or no_service for an unknown one."""
        if self.path != WEBHOOK_PATH:
            return 404, b"no_service", {"Content-Type": "text/html"}
        return 200, b"ok", {"Content-Type": "text/html"}

    def failure_answer(self, failure: Failure) -> tuple[int, bytes, dict[str, str]]:
        """Build the answer for a queued failure."""
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        error = failure.error or ("ratelimited" if failure.status == 429 else None)
        if error is None:
            page = f"<html><body>{failure.status} Server Error</body></html>"
            return (
                failure.status,
                page.encode(),
                {"Content-Type": "text/html", **headers},
            )
        if self.path.startswith("/services/"):
            return (
                failure.status,
                error.encode(),
                {"Content-Type": "text/html", **headers},
            )
        _, body, json_headers = api_json({"ok": False, "error": error})
        return failure.status, body, {**json_headers, **headers}

    def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        """Send the status line, headers and body."""
        # A client that timed out has gone; there is nobody left to answer.
        with contextlib.suppress(ConnectionError):
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


def api_json(data: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
    """Answer 200 with a Web API JSON body."""
    body = json.dumps(data).encode()
    return 200, body, {"Content-Type": "application/json; charset=utf-8"}
