"""Fixtures for the notifier tests: protocol peers on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notify.slack_api import SlackApiServer
from tests.notify.smtp_server import RunningServer, run_smtp_server

# slack_sdk routes through these, and ignores NO_PROXY, even for 127.0.0.1.
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


@pytest.fixture
def slack_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackApiServer]:
    """A Slack Web API and webhook server on 127.0.0.1, stopped afterwards."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    server = SlackApiServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def plain_smtp() -> Iterator[RunningServer]:
    """An SMTP server on 127.0.0.1 that takes mail in clear."""
    with run_smtp_server() as server:
        yield server
