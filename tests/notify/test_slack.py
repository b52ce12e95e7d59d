"""The Slack notifiers, driven through slack_sdk against a loopback Slack."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.notify.slack_api import CHANNEL_ID, TOKEN, WEBHOOK_PATH, SlackApiServer
from tracker.config import SlackChannel, SlackWebhookChannel
from tracker.errors import ConfigError, DeliveryError
from tracker.notify.base import Message, Notifier, SlackPost
from tracker.notify.slack import ConnectRetry, SlackNotifier, SlackWebhookNotifier

# Pauses between retries in seconds, short so the tests stay quick.
BACKOFF = 0.01

BLOCKS = (
    {"type": "header", "text": {"type": "plain_text", "text": "Changes ahead"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*API v1* retires"}},
)
FIRST = SlackPost("Changes ahead: API v1 retires", BLOCKS)
SECOND = SlackPost("Also: <https://example.com/x|the old SDK> goes & @here stays text")
MESSAGE = Message("reminder:api-v1", "Changes ahead", "plain", slack=(FIRST, SECOND))
SINGLE = Message("reminder:one", "One", "plain", slack=(FIRST,))


def make_channel(server: SlackApiServer, **changes: Any) -> SlackChannel:
    """A bot-token channel pointed at the test server."""
    settings: dict[str, Any] = {
        "name": "ops",
        "type": "slack",
        "channel": CHANNEL_ID,
        "token_env": "SLACK_BOT_TOKEN",
        "base_url": server.base_url,
    }
    return SlackChannel(**(settings | changes))


def make_notifier(
    server: SlackApiServer, token: str = TOKEN, **options: Any
) -> SlackNotifier:
    """A SlackNotifier for the test server, with quick retries."""
    options = {"backoff": BACKOFF} | options
    return SlackNotifier(make_channel(server), token, **options)


def make_webhook(
    server: SlackApiServer, url: str | None = None, **options: Any
) -> SlackWebhookNotifier:
    """A SlackWebhookNotifier for the test server's webhook."""
    channel = SlackWebhookChannel(
        name="hooks", type="slack_webhook", url_env="SLACK_WEBHOOK_URL"
    )
    options = {"backoff": BACKOFF} | options
    return SlackWebhookNotifier(channel, url or server.webhook_url, **options)


def api_requests(server: SlackApiServer) -> list[Any]:
    """The chat.postMessage requests the server received, accepted or not."""
    return [r for r in server.requests if r.path == "/api/chat.postMessage"]


def test_posts_arrive_in_order_with_channel_text_and_blocks(
    slack_api: SlackApiServer,
) -> None:
    receipt = make_notifier(slack_api).send(MESSAGE)

    first, second = slack_api.posted()
    assert first == {
        "channel": CHANNEL_ID,
        "text": FIRST.text,
        "blocks": list(BLOCKS),
        "unfurl_links": False,
        "unfurl_media": False,
        "metadata": {
            "event_type": "tracker_notification",
            "event_payload": {"key": "reminder:api-v1", "post": 0},
        },
    }
    assert second["text"] == SECOND.text
    assert second["metadata"]["event_payload"] == {"key": "reminder:api-v1", "post": 1}
    assert "blocks" not in second
    assert not {"link_names", "parse"} & (first.keys() | second.keys())
    assert all(r.authorized for r in slack_api.requests)
    first_ts = slack_api.history[CHANNEL_ID][-1]["ts"]
    assert receipt.detail == f"ok channel={CHANNEL_ID} ts={first_ts} posts=2"


def test_base_url_without_trailing_slash_is_normalized(
    slack_api: SlackApiServer,
) -> None:
    channel = make_channel(slack_api, base_url=slack_api.base_url.rstrip("/"))
    SlackNotifier(channel, TOKEN).send(SINGLE)

    assert [r.path for r in slack_api.requests] == ["/api/chat.postMessage"]


def test_rate_limit_is_waited_out_by_slack_sdk(slack_api: SlackApiServer) -> None:
    slack_api.fail_next(status=429, retry_after=1)

    make_notifier(slack_api).send(SINGLE)

    limited, accepted = api_requests(slack_api)
    assert (limited.status, accepted.status) == (429, 200)
    assert accepted.at - limited.at >= 0.95
    assert len(slack_api.posted()) == 1


def test_long_rate_limit_is_left_to_the_outbox(slack_api: SlackApiServer) -> None:
    slack_api.fail_next(status=429, retry_after=120)

    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api).send(SINGLE)

    error = caught.value
    assert (error.permanent, error.retry_after, error.delivered) == (False, 120, 0)
    assert "rate-limited channel ops (HTTP 429, retry after 120 s)" in str(error)
    assert len(slack_api.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_is_retried_then_delivered(
    slack_api: SlackApiServer, status: int
) -> None:
    slack_api.fail_next(status=status, times=2)

    make_notifier(slack_api, max_retries=2).send(SINGLE)

    assert [r.status for r in slack_api.requests] == [status, status, 200]
    assert len(slack_api.posted()) == 1


def test_persistent_server_error_is_transient(slack_api: SlackApiServer) -> None:
    slack_api.fail_next(status=503, times=3)

    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api, max_retries=2).send(SINGLE)

    assert caught.value.permanent is False
    assert caught.value.retry_after is None
    assert "(HTTP 503)" in str(caught.value)
    assert len(slack_api.requests) == 3


def test_slack_internal_error_is_transient_and_not_retried_inline(
    slack_api: SlackApiServer,
) -> None:
    slack_api.fail_next(error="internal_error")

    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api).send(SINGLE)

    assert caught.value.permanent is False
    assert "(internal_error)" in str(caught.value)
    assert len(slack_api.requests) == 1


@pytest.mark.parametrize(
    ("path", "reason"), [("/slack/", "HTTP 404"), ("/api/v9/", "unknown_method")]
)
def test_base_url_that_does_not_serve_slack_is_permanent(
    slack_api: SlackApiServer, path: str, reason: str
) -> None:
    base_url = f"http://127.0.0.1:{slack_api.port}{path}"
    channel = make_channel(slack_api, base_url=base_url)

    with pytest.raises(DeliveryError) as caught:
        SlackNotifier(channel, TOKEN).send(SINGLE)

    assert caught.value.permanent is True
    assert str(caught.value) == (
        f"{base_url} does not serve chat.postMessage for channel ops ({reason}); "
        "check base_url in the config"
    )


def test_wrong_token_is_permanent_and_names_its_variable(
    slack_api: SlackApiServer,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api, token="xoxb-wrong-token").send(SINGLE)

    assert caught.value.permanent is True
    assert str(caught.value) == (
        "Slack rejected the token for channel ops (invalid_auth); "
        "check the bot token in SLACK_BOT_TOKEN"
    )
    assert slack_api.requests[0].authorized is False


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("token_revoked", "check the bot token in SLACK_BOT_TOKEN"),
        ("missing_scope", "needs chat:write"),
        ("not_in_channel", "invite the bot"),
        ("is_archived", f"cannot post to {CHANNEL_ID}"),
        ("invalid_blocks", "the post of message reminder:one"),
        ("msg_too_long", "fix the Slack templates"),
    ],
)
def test_errors_retrying_cannot_fix_are_permanent(
    slack_api: SlackApiServer, error: str, words: str
) -> None:
    slack_api.fail_next(error=error)

    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api).send(SINGLE)

    assert caught.value.permanent is True
    assert f"({error}" in str(caught.value)
    assert words in str(caught.value)
    assert len(slack_api.requests) == 1


def test_unknown_channel_is_permanent(slack_api: SlackApiServer) -> None:
    channel = make_channel(slack_api, channel="C0MISSING")

    with pytest.raises(DeliveryError) as caught:
        SlackNotifier(channel, TOKEN).send(SINGLE)

    assert caught.value.permanent is True
    assert "cannot post to C0MISSING for channel ops (channel_not_found)" in str(
        caught.value
    )


def test_failure_on_second_post_is_resumed_without_repeating_the_first(
    slack_api: SlackApiServer,
) -> None:
    notifier = make_notifier(slack_api, max_retries=0)
    slack_api.fail_next(status=503, after=1)

    with pytest.raises(DeliveryError) as caught:
        notifier.send(MESSAGE)
    receipt = notifier.send(MESSAGE, skip_posts=caught.value.delivered)

    assert (caught.value.delivered, caught.value.permanent) == (1, False)
    assert [p["text"] for p in slack_api.posted()] == [FIRST.text, SECOND.text]
    assert [r.status for r in api_requests(slack_api)] == [200, 503, 200]
    assert receipt.detail.endswith("posts=1")


def test_permanent_failure_on_a_resumed_message_counts_skipped_posts(
    slack_api: SlackApiServer,
) -> None:
    slack_api.fail_next(error="channel_not_found")

    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api).send(MESSAGE, skip_posts=1)

    assert (caught.value.delivered, caught.value.permanent) == (1, True)


def test_refused_connection_is_transient(slack_api: SlackApiServer) -> None:
    notifier = make_notifier(slack_api)
    slack_api.stop()

    with pytest.raises(DeliveryError) as caught:
        notifier.send(MESSAGE)

    assert (caught.value.permanent, caught.value.delivered) == (False, 0)
    assert "cannot reach Slack at http://127.0.0.1:" in str(caught.value)
    assert "Connection refused" in str(caught.value)


def test_dropped_connection_is_not_retried_at_once_but_marked_uncertain(
    slack_api: SlackApiServer,
) -> None:
    # The server read the post, then hung up: it may have taken it. A retry
    # here could post it twice; the outbox retries later, looking first.
    slack_api.fail_next(drop=True, times=3)

    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api, max_retries=2).send(SINGLE)

    assert (caught.value.permanent, caught.value.uncertain) == (False, True)
    assert "failed for channel ops (RemoteDisconnected)" in str(caught.value)
    assert [r.status for r in slack_api.requests] == [0]


def test_refused_connection_is_retried_and_known_unsent(
    slack_api: SlackApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/api/"
    channel = make_channel(slack_api, base_url=closed)
    notifier = SlackNotifier(channel, TOKEN, max_retries=2, backoff=BACKOFF)
    answers: list[bool] = []
    ask = ConnectRetry._can_retry

    def asked(self: ConnectRetry, **kwargs: Any) -> bool:
        answers.append(ask(self, **kwargs))
        return answers[-1]

    monkeypatch.setattr(ConnectRetry, "_can_retry", asked)

    with pytest.raises(DeliveryError) as caught:
        notifier.send(SINGLE)

    assert (caught.value.permanent, caught.value.uncertain) == (False, False)
    assert "Connection refused" in str(caught.value)
    # Both retries were allowed; the third failure used up the budget.
    assert answers == [True, True]


def test_ratelimited_without_retry_after_is_transient(
    slack_api: SlackApiServer,
) -> None:
    slack_api.fail_next(error="ratelimited")

    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api).send(SINGLE)

    assert (caught.value.permanent, caught.value.retry_after) == (False, None)
    assert "rate-limited channel ops (ratelimited)" in str(caught.value)


def test_rate_limit_with_a_date_for_retry_after_is_transient(
    slack_api: SlackApiServer,
) -> None:
    slack_api.fail_next(status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")

    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api).send(SINGLE)

    assert (caught.value.permanent, caught.value.retry_after) == (False, None)
    assert len(slack_api.requests) == 1


def test_timeout_is_transient(slack_api: SlackApiServer) -> None:
    slack_api.fail_next(delay=5)

    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api, timeout=0.2).send(SINGLE)

    assert caught.value.permanent is False
    assert "did not answer in time" in str(caught.value)


def test_message_without_slack_posts_is_permanent(slack_api: SlackApiServer) -> None:
    with pytest.raises(DeliveryError) as caught:
        make_notifier(slack_api).send(Message("k", "subject", "text"))

    assert caught.value.permanent is True
    assert slack_api.requests == []


def test_base_url_must_be_http(slack_api: SlackApiServer) -> None:
    channel = make_channel(slack_api, base_url="slack.com/api")

    with pytest.raises(ConfigError) as caught:
        SlackNotifier(channel, TOKEN)

    assert "base_url 'slack.com/api' is not an http(s) URL" in str(caught.value)


def test_test_server_speaks_form_encoded_web_api(slack_api: SlackApiServer) -> None:
    client = make_notifier(slack_api).client

    identity = client.auth_test()
    posted = client.api_call(
        "chat.postMessage", params={"channel": CHANNEL_ID, "text": "form"}
    )

    assert identity["bot_id"] == "B0000"
    assert posted["ok"] is True
    assert slack_api.posted() == [{"channel": CHANNEL_ID, "text": "form"}]


def test_webhook_posts_arrive_in_order(slack_api: SlackApiServer) -> None:
    receipt = make_webhook(slack_api).send(MESSAGE)

    first, second = slack_api.posted(WEBHOOK_PATH)
    assert first == {
        "text": FIRST.text,
        "blocks": list(BLOCKS),
        "unfurl_links": False,
        "unfurl_media": False,
    }
    assert second["text"] == SECOND.text
    assert receipt.detail == "ok webhook posts=2"


def test_unknown_webhook_is_permanent_and_names_its_variable(
    slack_api: SlackApiServer,
) -> None:
    notifier = make_webhook(slack_api, url=slack_api.webhook_url + "gone")

    with pytest.raises(DeliveryError) as caught:
        notifier.send(SINGLE)

    assert caught.value.permanent is True
    assert str(caught.value) == (
        "Slack refused the webhook of channel hooks (HTTP 404 no_service); create a "
        "new incoming webhook in the Slack app and put its URL in SLACK_WEBHOOK_URL"
    )


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "invalid_payload"),
        (403, "invalid_token"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ],
)
def test_webhook_refusals_are_permanent(
    slack_api: SlackApiServer, status: int, error: str
) -> None:
    slack_api.fail_next(status=status, error=error)

    with pytest.raises(DeliveryError) as caught:
        make_webhook(slack_api).send(MESSAGE, skip_posts=1)

    assert (caught.value.permanent, caught.value.delivered) == (True, 1)
    assert f"(HTTP {status} {error})" in str(caught.value)
    assert len(slack_api.requests) == 1


def test_webhook_rate_limit_is_transient_with_retry_after(
    slack_api: SlackApiServer,
) -> None:
    slack_api.fail_next(status=429, retry_after=60, after=1)

    with pytest.raises(DeliveryError) as caught:
        make_webhook(slack_api).send(MESSAGE)

    error = caught.value
    assert (error.permanent, error.retry_after, error.delivered) == (False, 60, 1)


def test_webhook_server_error_is_retried_then_transient(
    slack_api: SlackApiServer,
) -> None:
    slack_api.fail_next(status=500)
    make_webhook(slack_api, max_retries=1).send(SINGLE)
    slack_api.fail_next(status=500, times=2)

    with pytest.raises(DeliveryError) as caught:
        make_webhook(slack_api, max_retries=1).send(SINGLE)

    assert caught.value.permanent is False
    assert [r.status for r in slack_api.requests] == [500, 200, 500, 500]


def test_webhook_url_must_be_http(slack_api: SlackApiServer) -> None:
    with pytest.raises(ConfigError) as caught:
        make_webhook(slack_api, url="hooks.slack.com/services/T0/B0/secret")

    assert "SLACK_WEBHOOK_URL is not an http(s) URL" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_token_and_webhook_url_stay_out_of_errors_and_logs(
    slack_api: SlackApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot, hook = make_notifier(slack_api), make_webhook(slack_api)
    errors: list[str] = []

    def fail(notifier: Notifier) -> None:
        with pytest.raises(DeliveryError) as caught:
            notifier.send(SINGLE)
        errors.append(str(caught.value))

    bot.send(MESSAGE)
    hook.send(MESSAGE)
    fail(make_notifier(slack_api, token="xoxb-wrong"))
    slack_api.fail_next(status=503, times=6)
    fail(bot)
    fail(hook)
    slack_api.fail_next(status=404, error="no_service")
    fail(hook)
    slack_api.stop()
    fail(bot)
    fail(hook)

    secrets = (TOKEN, "xoxb-wrong", WEBHOOK_PATH.rsplit("/", 1)[1])
    texts = [caplog.text, *errors]
    assert [secret for secret in secrets for text in texts if secret in text] == []
    assert f"url: http://127.0.0.1:{slack_api.port}/[hidden]" in caplog.text


def test_delivered_counts_the_posts_of_a_message_found_in_the_channel(
    slack_api: SlackApiServer,
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    notifier = make_notifier(slack_api)
    notifier.send(SINGLE)
    # The second post of MESSAGE failed: only its first is in the channel.
    slack_api.fail_next(error="internal_error", after=1, times=3)
    with pytest.raises(DeliveryError):
        notifier.send(MESSAGE)
    slack_api.failures.clear()

    assert notifier.delivered(SINGLE, since) == 1
    assert notifier.delivered(MESSAGE, since) == 1
    assert (
        notifier.delivered(Message("reminder:other", "x", "y", slack=(FIRST,)), since)
        == 0
    )
    assert notifier.delivered(SINGLE, datetime.now(UTC) + timedelta(minutes=1)) == 0


def test_delivered_is_unknown_without_a_channel_id_or_history_scope(
    slack_api: SlackApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    by_name = SlackNotifier(make_channel(slack_api, channel="#api-changes"), TOKEN)
    slack_api.fail_next(error="missing_scope")

    with caplog.at_level(logging.WARNING):
        assert by_name.delivered(SINGLE, since) is None
        assert make_notifier(slack_api).delivered(SINGLE, since) is None

    assert "configure the channel by its id" in caplog.text
    assert "(missing_scope); sending it again" in caplog.text
