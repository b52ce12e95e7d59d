"""What every notifier takes and gives: messages, receipts, secrets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tracker.errors import ConfigError


@dataclass(frozen=True)
class SlackPost:
    """One Slack message: Block Kit blocks and their plain-text fallback.

    ``text`` is what notifications and screen readers show; Slack needs it
    beside ``blocks``. Both are already escaped for Slack.
    """

    text: str
    blocks: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Message:
    """One notification, rendered for every kind of channel.

    ``key`` is the outbox row's unique key: an email's Message-ID is made
    from it, so a message re-sent after a crash is the same message. A long
    Slack message is split into several ``slack`` posts, sent in order.
    """

    key: str
    subject: str
    text: str
    html: str = ""
    slack: tuple[SlackPost, ...] = field(default=())


@dataclass(frozen=True)
class Receipt:
    """The server's answer to a delivered message, in short, for the log."""

    detail: str


class Notifier(Protocol):
    """Delivers messages to one configured channel.

    ``send`` raises DeliveryError: ``permanent`` when retrying cannot help
    (a revoked token, an unknown channel, a rejected recipient), else with
    ``retry_after`` seconds when the server said how long to wait. A Slack
    message split into several posts may fail after some were delivered:
    the error's ``delivered`` says how many, and the retry passes that as
    ``skip_posts`` so that no post is sent twice.
    """

    def send(self, message: Message, *, skip_posts: int = 0) -> Receipt: ...

    def delivered(self, message: Message, since: datetime) -> int | None:
        """How many of the message's posts the channel shows since ``since``.

        Asked before re-sending a message whose last try was interrupted;
        None when the channel cannot tell (email, webhooks), in which case
        the message is sent again.
        """
        ...


def read_secret(
    channel: str, what: str, env: str | None, file: Path | None = None
) -> str:
    """Read a secret from the environment variable or file the config names.

    Raises ConfigError naming the variable or file, never the secret.
    """
    if env is not None:
        value = os.environ.get(env, "").strip()
        if not value:
            raise ConfigError(
                f"channel {channel!r}: environment variable {env} with the {what} "
                "is not set; export it, or name another variable in the config"
            )
        return value
    if file is not None:
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"channel {channel!r}: cannot read the {what} from {file}: "
                f"{error.strerror}"
            ) from None
        if not value:
            raise ConfigError(f"channel {channel!r}: {file} holds no {what}")
        return value
    raise ConfigError(f"channel {channel!r}: no {what} configured")
