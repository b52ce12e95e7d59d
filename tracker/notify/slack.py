"""Post notifications to Slack: through a bot token, or an incoming webhook.

Both notifiers send a message's ``slack`` posts in order through slack_sdk,
whose retry handlers wait out a short rate limit (429 with Retry-After),
and retry 5xx answers and refused or reset connections a few times with
backoff. What is still failing after that becomes a DeliveryError. Posts never
set ``link_names`` or ``parse=full``: text from a vendor's page must not
ping anyone.

A timeout after Slack accepted a post cannot be told from one before it, so
the retry that follows may post it twice; Slack offers no idempotency key.
"""

from __future__ import annotations

import errno
import logging
import random
import re
import socket
from collections.abc import Mapping
from datetime import datetime
from http.client import HTTPException
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import (
    BackoffRetryIntervalCalculator,
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    Jitter,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryIntervalCalculator,
    RetryState,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from tracker.config import SlackChannel, SlackWebhookChannel
from tracker.errors import ConfigError, DeliveryError
from tracker.notify.base import Message, Receipt, SlackPost

log = logging.getLogger(__name__)

# The metadata event type of every post, carrying the outbox key.
METADATA_EVENT = "tracker_notification"
SLACK_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
# Pages of channel history read when checking an interrupted message.
HISTORY_PAGES = 5

# slack_sdk logs every webhook request with its URL, whose path is the secret;
# this logger, handed to WebhookClient, cuts the path off before anything sees it.
webhook_log = logging.getLogger(f"{__name__}.webhook")

# The longest rate-limit pause waited out inside send(); a longer one is left to
# the outbox, through the DeliveryError's retry_after, so a run is not blocked.
MAX_RATE_LIMIT_WAIT = 10

# Web API error codes that retrying cannot fix, by what the user must change.
# https://api.slack.com/methods/chat.postMessage#errors
TOKEN_ERRORS = frozenset(
    {
        "account_inactive",
        "invalid_auth",
        "not_allowed_token_type",
        "not_authed",
        "org_login_required",
        "token_expired",
        "token_revoked",
        "two_factor_setup_required",
    }
)
SCOPE_ERRORS = frozenset(
    {"access_denied", "ekm_access_denied", "missing_scope", "no_permission"}
)
CHANNEL_ERRORS = frozenset(
    {
        "channel_not_found",
        "enterprise_is_restricted",
        "is_archived",
        "messages_tab_disabled",
        "not_in_channel",
        "restricted_action",
        "restricted_action_non_threadable_channel",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "team_access_not_granted",
    }
)
CONTENT_ERRORS = frozenset(
    {
        "invalid_arg_name",
        "invalid_arguments",
        "invalid_array_arg",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_charset",
        "invalid_form_data",
        "invalid_json",
        "invalid_post_type",
        "json_not_object",
        "markdown_text_conflict",
        "missing_post_type",
        "msg_blocks_too_long",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
    }
)

# Incoming-webhook answers that retrying cannot fix, by HTTP status.
# https://api.slack.com/messaging/webhooks#handling_errors
PERMANENT_WEBHOOK_STATUSES = frozenset({400, 401, 403, 404, 410})


class SlackNotifier:
    """Slack channel, through a bot token (chat.postMessage).

    ``base_url`` in the channel replaces https://slack.com/api/, for a proxy
    or a test server. ``max_retries`` bounds the retries of one post (rate
    limit, 5xx, refused connection); ``backoff`` is the first pause between
    them in seconds, doubled each time, plus up to as much again at random.
    ``send`` raises DeliveryError, never showing the token.
    """

    def __init__(
        self,
        channel: SlackChannel,
        token: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.channel = channel
        base_url = channel.base_url or WebClient.BASE_URL
        check_http_url(base_url, f"channel {channel.name!r}: base_url {base_url!r}")
        self.base_url = base_url.rstrip("/") + "/"
        self.client = WebClient(
            token=token,
            base_url=self.base_url,
            # urllib takes fractions of a second, whatever slack_sdk's annotation says
            timeout=timeout,  # type: ignore[arg-type]
            retry_handlers=build_retry_handlers(channel.name, max_retries, backoff),
        )

    def send(self, message: Message, *, skip_posts: int = 0) -> Receipt:
        """Post the message's Slack posts from index ``skip_posts`` on, in order."""
        posts = require_posts(message, self.channel.name)
        channel_id, first_ts = self.channel.channel, ""
        for index in range(skip_posts, len(posts)):
            try:
                response = self.post(posts[index], message.key, index)
            except SlackApiError as error:
                raise self.describe_api_error(error, message, index) from error
            except (SlackClientError, OSError, HTTPException) as error:
                raise describe_connection_error(
                    error, self.channel.name, self.base_url, index
                ) from error
            channel_id = str(response.get("channel") or channel_id)
            first_ts = first_ts or str(response.get("ts") or "")
            log.debug(
                "slack post sent channel=%s ts=%s post=%d/%d",
                self.channel.name,
                response.get("ts"),
                index + 1,
                len(posts),
            )

        sent = max(len(posts) - skip_posts, 0)
        return Receipt(f"ok channel={channel_id} ts={first_ts or '-'} posts={sent}")

    def post(self, post: SlackPost, key: str, index: int) -> SlackResponse:
        """Send one post with chat.postMessage; return Slack's answer.

        The post carries its message's outbox key as message metadata, so
        that ``delivered`` can find it after a crash.
        """
        return self.client.chat_postMessage(
            channel=self.channel.channel,
            text=post.text,
            blocks=list(post.blocks) or None,
            unfurl_links=False,
            unfurl_media=False,
            metadata={
                "event_type": METADATA_EVENT,
                "event_payload": {"key": key, "post": index},
            },
        )

    def delivered(self, message: Message, since: datetime) -> int | None:
        """How many of the message's posts are in the channel since ``since``.

        Reads the channel's history (the app needs the channels:history or
        groups:history scope) for posts carrying the message's key. None
        when the channel is configured by name, not id, or the history
        cannot be read: the caller then sends again.
        """
        if not SLACK_CHANNEL_ID.match(self.channel.channel):
            log.warning(
                "cannot tell whether an interrupted message reached channel=%s: "
                "configure the channel by its id (C0123...) to let the tracker check",
                self.channel.name,
            )
            return None
        found: set[int] = set()
        cursor: str | None = None
        try:
            for _ in range(HISTORY_PAGES):
                page = self.client.conversations_history(
                    channel=self.channel.channel,
                    oldest=f"{since.timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
                found.update(posts_of(page.get("messages") or [], message.key))
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except (SlackApiError, SlackClientError, OSError, HTTPException) as error:
            log.warning(
                "cannot read the history of channel=%s to check an interrupted "
                "message (%s); sending it again",
                self.channel.name,
                short_code(str(getattr(error, "response", {}).get("error", "")))
                or type(error).__name__,
            )
            return None
        count = 0
        while count in found:
            count += 1
        return count

    def describe_api_error(
        self, error: SlackApiError, message: Message, index: int
    ) -> DeliveryError:
        """Turn Slack's answer into a DeliveryError saying what to do."""
        response = error.response
        status = int(response.status_code)
        code = short_code(str(response.get("error") or ""))
        name, where = self.channel.name, self.channel.channel
        place = post_place(index, len(message.slack))

        if code in TOKEN_ERRORS:
            source = self.channel.token_env or self.channel.token_file
            text = f"Slack rejected the token for channel {name} ({code}); check the bot token in {source}"
        elif code in SCOPE_ERRORS:
            needed = response.get("needed") or "chat:write"
            text = f"the Slack app of channel {name} lacks a permission ({code}, needs {needed}); add the scope to the app and reinstall it"
        elif code in CHANNEL_ERRORS:
            text = f"Slack cannot post to {where} for channel {name} ({code}); check `channel` in the config and invite the bot to that Slack channel"
        elif code in CONTENT_ERRORS:
            text = f"Slack rejected {place} of message {message.key} for channel {name} ({code}); fix the Slack templates, the message cannot be sent as rendered"
        elif code == "unknown_method" or is_foreign_refusal(status, code):
            reason = code or f"HTTP {status}"
            text = f"{self.base_url} does not serve chat.postMessage for channel {name} ({reason}); check base_url in the config"
        else:
            return transient_error(name, status, code, response.headers, index)
        return DeliveryError(text, permanent=True, delivered=index)


class SlackWebhookNotifier:
    """Slack incoming webhook.

    The webhook URL is a secret: it appears in no message and no log line.
    ``max_retries`` and ``backoff`` work as for SlackNotifier.
    """

    def __init__(
        self,
        channel: SlackWebhookChannel,
        url: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.channel = channel
        check_http_url(url, f"channel {channel.name!r}: the URL in {channel.url_env}")
        parts = urlsplit(url)
        self.host = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self.client = WebhookClient(
            url,
            # urllib takes fractions of a second, whatever slack_sdk's annotation says
            timeout=timeout,  # type: ignore[arg-type]
            logger=webhook_log,
            retry_handlers=build_retry_handlers(channel.name, max_retries, backoff),
        )

    def delivered(self, message: Message, since: datetime) -> int | None:
        """A webhook cannot read the channel: None."""
        return None

    def send(self, message: Message, *, skip_posts: int = 0) -> Receipt:
        """Post the message's Slack posts from index ``skip_posts`` on, in order."""
        posts = require_posts(message, self.channel.name)
        for index in range(skip_posts, len(posts)):
            post = posts[index]
            # Errors are raised "from None": urllib's may quote the URL, a secret.
            try:
                response = self.client.send(
                    text=post.text,
                    blocks=list(post.blocks) or None,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except (SlackClientError, OSError, HTTPException) as error:
                raise describe_connection_error(
                    error, self.channel.name, self.host, index
                ) from None
            if response.status_code != 200:
                raise self.describe_refusal(
                    response.status_code, response.body, response.headers, index
                )
            log.debug(
                "slack webhook post sent channel=%s post=%d/%d",
                self.channel.name,
                index + 1,
                len(posts),
            )

        return Receipt(f"ok webhook posts={max(len(posts) - skip_posts, 0)}")

    def describe_refusal(
        self, status: int, body: str, headers: Mapping[str, Any], index: int
    ) -> DeliveryError:
        """Turn the webhook's error answer into a DeliveryError."""
        name = self.channel.name
        code = short_code(body) or f"HTTP {status}"
        if status not in PERMANENT_WEBHOOK_STATUSES:
            return transient_error(name, status, code, headers, index)

        if status == 400:
            advice = "fix the Slack templates, the message cannot be sent as rendered"
        else:
            advice = f"create a new incoming webhook in the Slack app and put its URL in {self.channel.url_env}"
        return DeliveryError(
            f"Slack refused the webhook of channel {name} (HTTP {status} {code}); {advice}",
            permanent=True,
            delivered=index,
        )


class ProportionalJitter(Jitter):
    """Add up to the pause itself again, at random, so retries spread out."""

    def recalculate(self, duration: float) -> float:
        """Return ``duration`` stretched by a random 0 to 100 %."""
        return duration * (1 + random.random())


class RateLimitRetry(RateLimitErrorRetryHandler):
    """Wait out a 429 when Slack asks for a short pause; log that it did."""

    def __init__(self, channel: str, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.channel = channel

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        # slack_sdk's handler would crash on a Retry-After that is not a number.
        if response is None or response.status_code != 429:
            return False
        wait = parse_retry_after(response.headers)
        return wait is not None and wait <= MAX_RATE_LIMIT_WAIT

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        """Sleep for Retry-After seconds (plus up to one), as slack_sdk does."""
        wait = parse_retry_after(response.headers) if response else None
        log.warning(
            "slack rate limit; waiting channel=%s seconds=%s", self.channel, wait
        )
        super().prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )


class ServerErrorRetry(ServerErrorRetryHandler):
    """Retry any 5xx answer, logging each retry.

    slack_sdk's handler only retries 500 and 503; a proxy or load balancer in
    front of Slack answers 502 and 504 as well.
    """

    def __init__(
        self, channel: str, max_retry_count: int, backoff: RetryIntervalCalculator
    ) -> None:
        super().__init__(max_retry_count=max_retry_count, interval_calculator=backoff)
        self.channel = channel

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and 500 <= response.status_code < 600

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        """Sleep for the backoff pause before the next attempt."""
        status = response.status_code if response else None
        log.warning(
            "slack server error; retrying channel=%s status=%s retry=%d",
            self.channel,
            status,
            state.current_attempt + 1,
        )
        super().prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )


class HideUrlPaths(logging.Filter):
    """Cut the path off every URL in a log record, keeping scheme and host."""

    URL = re.compile(r"(https?://)(?:[^/\s@]*@)?([^/\s]*)/\S*")

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message; never drop the record."""
        record.msg = self.URL.sub(r"\1\2/[hidden]", record.getMessage())
        record.args = None
        return True


webhook_log.addFilter(HideUrlPaths())


def build_retry_handlers(
    channel: str, max_retries: int, backoff: float
) -> list[RetryHandler]:
    """Return slack_sdk retry handlers for rate limits, 5xx and lost connections.

    slack_sdk counts attempts across handlers, so ``max_retries`` bounds the
    retries of one request, whatever went wrong.
    """
    pauses = BackoffRetryIntervalCalculator(
        backoff_factor=backoff, jitter=ProportionalJitter()
    )
    return [
        RateLimitRetry(channel, max_retries),
        ServerErrorRetry(channel, max_retries, pauses),
        ConnectRetry(max_retry_count=max_retries, interval_calculator=pauses),
    ]


def check_http_url(url: str, what: str) -> None:
    """Raise ConfigError unless ``url`` is an http(s) URL with a host.

    The message names ``what`` and never the URL, which may be a secret.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{what} is not an http(s) URL; write it as https://host/path"
        )


def require_posts(message: Message, channel: str) -> tuple[SlackPost, ...]:
    """Return the message's Slack posts; raise a permanent error if it has none."""
    if not message.slack:
        raise DeliveryError(
            f"message {message.key} has no Slack text for channel {channel}; "
            "check the Slack templates",
            permanent=True,
        )
    return message.slack


def transient_error(
    channel: str, status: int, code: str, headers: Mapping[str, Any], index: int
) -> DeliveryError:
    """Describe a failure worth retrying later: rate limit, 5xx, Slack trouble."""
    if status == 429 or code == "ratelimited":
        wait = parse_retry_after(headers)
        after = f", retry after {wait} s" if wait is not None else ""
        reason = f"HTTP {status}" if status != 200 else code
        return DeliveryError(
            f"Slack rate-limited channel {channel} ({reason}{after})",
            permanent=False,
            retry_after=wait,
            delivered=index,
        )
    reason = code if status < 500 and code else f"HTTP {status}"
    return DeliveryError(
        f"Slack failed to take a post for channel {channel} ({reason})",
        permanent=False,
        delivered=index,
    )


def describe_connection_error(
    error: Exception, channel: str, host: str, index: int
) -> DeliveryError:
    """Describe a request that got no answer; only ``host`` names the server."""
    reason: object = error.reason if isinstance(error, URLError) else error
    if isinstance(reason, TimeoutError):
        text = f"Slack at {host} did not answer in time for channel {channel}"
    elif isinstance(reason, OSError) and reason.strerror:
        text = f"cannot reach Slack at {host} for channel {channel} ({reason.strerror}); check the network"
    else:
        text = f"the connection to Slack at {host} failed for channel {channel} ({type(error).__name__})"
    return DeliveryError(
        text, permanent=False, delivered=index, uncertain=not never_connected(reason)
    )


def never_connected(reason: object) -> bool:
    """Whether a failed request surely never reached the server: refused,
    unreachable or unresolvable, as opposed to cut off or unanswered."""
    return isinstance(reason, (ConnectionRefusedError, socket.gaierror)) or (
        isinstance(reason, OSError)
        and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
    )


class ConnectRetry(ConnectionErrorRetryHandler):
    """Retry at once only a request that never reached the server.

    A post cut off after it was sent may have been taken; retrying it here
    could post it twice. It fails instead, and the outbox's next try first
    reads the channel for it.
    """

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not isinstance(error, URLError) or response is not None:
            return False
        return never_connected(error.reason)


def parse_retry_after(headers: Mapping[str, Any]) -> int | None:
    """Return the Retry-After header in whole seconds, if it is one.

    slack_sdk hands headers over as strings or as lists of strings.
    """
    for name, value in headers.items():
        if name.lower() == "retry-after":
            text = str(value[0] if isinstance(value, list) else value).strip()
            return int(text) if text.isdigit() else None
    return None


def is_foreign_refusal(status: int, code: str) -> bool:
    """Tell whether a 4xx without a Slack error code came from something else.

    Slack's Web API answers its errors with HTTP 200, except rate limits.
    """
    return 400 <= status < 500 and status not in (408, 429) and not code


def posts_of(messages: list[dict[str, Any]], key: str) -> set[int]:
    """The post numbers of the message ``key`` among Slack history messages."""
    found = set()
    for item in messages:
        metadata = item.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == METADATA_EVENT and payload.get("key") == key:
            post = payload.get("post")
            if isinstance(post, int):
                found.add(post)
    return found


def post_place(index: int, total: int) -> str:
    """Name a post for a message: "post 2 of 3", or "the post" if alone."""
    return f"post {index + 1} of {total}" if total > 1 else "the post"


def short_code(body: str) -> str:
    """Return ``body`` if it is one of Slack's short error codes, else ""."""
    text = body.strip()
    return text if re.fullmatch(r"[a-z_]{1,60}", text) else ""
