"""The email notifier against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import hashlib
import logging
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, cast

import pytest
import trustme
from pydantic import ValidationError

from tests.notify.smtp_server import Delivery, Mode, RunningServer, run_smtp_server
from tracker.config import EmailChannel
from tracker.errors import ConfigError, DeliveryError
from tracker.notify.base import Message
from tracker.notify.email import EmailNotifier, make_message_id

SENDER = "Change tracker <tracker@example.com>"
RECIPIENTS = ["ops@example.com", "On call <oncall@example.org>"]
USERNAME = "tracker"
PASSWORD = "s3cret-Pa55word"

TEXT = "Maintenance window on 2030-06-10 at 14:00 UTC.\n\nSee the vendor's page.\n"
HTML = "<p>Maintenance window on <b>2030-06-10</b> at 14:00 UTC.</p>\n"
MESSAGE = Message(
    key="alert:mail:42", subject="Change on 2030-06-10", text=TEXT, html=HTML
)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throw-away certificate authority that signs the servers' certificates."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test CA's certificate as a PEM file, for a channel's ca_file."""
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def smtp_server() -> Iterator[RunningServer]:
    """A server that speaks SMTP in clear and offers no STARTTLS."""
    with run_smtp_server() as server:
        yield server


@pytest.fixture
def starttls_server(ca: trustme.CA) -> Iterator[RunningServer]:
    """A server that requires STARTTLS before any mail."""
    with run_smtp_server("starttls", ca=ca) as server:
        yield server


@pytest.fixture
def ssl_server(ca: trustme.CA) -> Iterator[RunningServer]:
    """A server that speaks TLS from the first byte, like port 465."""
    with run_smtp_server("ssl", ca=ca) as server:
        yield server


@pytest.fixture
def auth_server(ca: trustme.CA) -> Iterator[RunningServer]:
    """A STARTTLS server that requires AUTH as USERNAME with PASSWORD."""
    with run_smtp_server("starttls", ca=ca, credentials=(USERNAME, PASSWORD)) as server:
        yield server


def make_channel(port: int, security: str = "none", **settings: Any) -> EmailChannel:
    """An email channel as the TOML file would give it, aimed at loopback."""
    return EmailChannel.model_validate(
        {
            "name": "mail",
            "type": "email",
            "host": "127.0.0.1",
            "port": port,
            "security": security,
            "from": SENDER,
            "to": RECIPIENTS,
            "timeout": 5,
            **settings,
        }
    )


def make_notifier(
    server: RunningServer,
    security: str = "none",
    *,
    username: str | None = None,
    password: str | None = None,
    **settings: Any,
) -> EmailNotifier:
    return EmailNotifier(
        make_channel(server.port, security, **settings), username, password
    )


def parse_mail(delivery: Delivery) -> EmailMessage:
    """Parse the bytes the server received, as a mail client would.

    Lines arrive ending in CRLF, as SMTP wants; a mail store keeps them as LF.
    """
    content = delivery.content.replace(b"\r\n", b"\n")
    parser = BytesParser(_class=EmailMessage, policy=policy.default)
    return parser.parsebytes(content)


def body_of(mail: EmailMessage, subtype: str) -> str:
    part = mail.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return cast(str, cast(EmailMessage, part).get_content())


def send_failing(notifier: EmailNotifier, message: Message = MESSAGE) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        notifier.send(message)
    return caught.value


def test_mail_arrives_with_headers_envelope_and_both_parts(
    smtp_server: RunningServer,
) -> None:
    receipt = make_notifier(smtp_server).send(MESSAGE)

    [delivery] = smtp_server.handler.deliveries
    assert delivery.mail_from == "tracker@example.com"
    assert delivery.rcpt_tos == ["ops@example.com", "oncall@example.org"]
    assert receipt.detail == "250 2.0.0 Ok: queued as ABC123 to=2"

    mail = parse_mail(delivery)
    assert mail["Subject"] == "Change on 2030-06-10"
    assert mail["From"] == SENDER
    assert mail["To"] == "ops@example.com, On call <oncall@example.org>"
    assert mail["Auto-Submitted"] == "auto-generated"
    sent_at = mail["Date"].datetime
    assert abs(datetime.now(UTC) - sent_at) < timedelta(minutes=1)
    assert mail.get_content_type() == "multipart/alternative"
    assert body_of(mail, "plain") == TEXT
    assert body_of(mail, "html") == HTML


def test_message_id_is_made_from_the_key_and_repeats_on_resend(
    smtp_server: RunningServer,
) -> None:
    notifier = make_notifier(smtp_server)
    notifier.send(MESSAGE)
    notifier.send(MESSAGE)
    notifier.send(Message(key="alert:mail:43", subject="Other", text="Other\n"))

    ids = [parse_mail(d)["Message-ID"] for d in smtp_server.handler.deliveries]
    digest = hashlib.sha256(b"alert:mail:42").hexdigest()[:32]
    assert ids[0] == ids[1] == f"<{digest}@example.com>"
    assert ids[2] != ids[0]
    assert make_message_id("k", "no-domain").endswith("@tracker.invalid>")


def test_html_escaped_by_the_renderer_arrives_still_escaped(
    smtp_server: RunningServer,
) -> None:
    html = "<p>Title: &lt;script&gt;alert(1)&lt;/script&gt; &amp; more</p>\n"
    message = Message(key="k", subject="Escaped", text="Title\n", html=html)

    make_notifier(smtp_server).send(message)

    [delivery] = smtp_server.handler.deliveries
    assert body_of(parse_mail(delivery), "html") == html
    assert b"<script>" not in delivery.content


def test_text_only_message_is_a_single_plain_part(smtp_server: RunningServer) -> None:
    make_notifier(smtp_server).send(Message(key="k", subject="S", text=TEXT))

    mail = parse_mail(smtp_server.handler.deliveries[0])
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content() == TEXT


def test_subject_line_breaks_and_non_ascii_text_survive_the_trip(
    smtp_server: RunningServer,
) -> None:
    long_line = "Änderung " * 20 + "\n"
    message = Message(
        key="k",
        subject="Wartung am\r\n10. Juni: Änderung",
        text="Geplante Änderung: 10. Juni.\n" + long_line,
        html="<p>Geplante Änderung</p>\n",
    )

    make_notifier(smtp_server).send(message)

    [delivery] = smtp_server.handler.deliveries
    assert delivery.content.isascii()
    mail = parse_mail(delivery)
    assert mail["Subject"] == "Wartung am 10. Juni: Änderung"
    assert body_of(mail, "plain") == message.text
    assert body_of(mail, "html") == message.html


def test_starttls_with_the_test_ca_delivers_encrypted(
    starttls_server: RunningServer, ca_file: Path
) -> None:
    make_notifier(starttls_server, "starttls", ca_file=ca_file).send(MESSAGE)

    [delivery] = starttls_server.handler.deliveries
    assert delivery.tls
    assert body_of(parse_mail(delivery), "plain") == TEXT


def test_starttls_refuses_a_server_without_it_and_sends_nothing_in_clear(
    smtp_server: RunningServer, ca_file: Path
) -> None:
    error = send_failing(make_notifier(smtp_server, "starttls", ca_file=ca_file))

    assert error.permanent
    assert "does not offer STARTTLS" in str(error)
    assert smtp_server.handler.commands == []
    assert smtp_server.handler.deliveries == []


def test_ssl_with_the_test_ca_delivers_encrypted(
    ssl_server: RunningServer, ca_file: Path
) -> None:
    receipt = make_notifier(ssl_server, "ssl", ca_file=ca_file).send(MESSAGE)

    [delivery] = ssl_server.handler.deliveries
    assert delivery.tls
    assert receipt.detail.startswith("250 ")


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_untrusted_certificate_is_permanent(ca: trustme.CA, security: Mode) -> None:
    with run_smtp_server(security, ca=ca) as server:
        error = send_failing(make_notifier(server, security))

        assert error.permanent
        assert "certificate is not trusted" in str(error)
        assert "ca_file" in str(error)
        assert server.handler.commands == []


def test_ssl_against_a_server_in_clear_is_permanent(
    smtp_server: RunningServer, ca_file: Path
) -> None:
    error = send_failing(make_notifier(smtp_server, "ssl", ca_file=ca_file))

    assert error.permanent
    assert "TLS failed" in str(error)
    assert smtp_server.handler.commands == []


def test_login_after_starttls_delivers(
    auth_server: RunningServer, ca_file: Path
) -> None:
    notifier = make_notifier(
        auth_server, "starttls", username=USERNAME, password=PASSWORD, ca_file=ca_file
    )

    notifier.send(MESSAGE)

    [delivery] = auth_server.handler.deliveries
    assert delivery.login == USERNAME
    assert delivery.tls


def test_wrong_password_is_permanent_and_never_shown(
    auth_server: RunningServer, ca_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-Pa55word-123"
    notifier = make_notifier(
        auth_server,
        "starttls",
        username=USERNAME,
        password=wrong,
        ca_file=ca_file,
        username_env="SMTP_USER",
        password_env="SMTP_PASSWORD",
    )

    error = send_failing(notifier)

    assert error.permanent
    assert "535" in str(error)
    assert "'tracker'" in str(error)
    assert "$SMTP_PASSWORD" in str(error)
    assert wrong not in str(error)
    assert wrong not in caplog.text
    assert auth_server.handler.deliveries == []


def test_login_on_a_server_without_auth_is_permanent(
    smtp_server: RunningServer,
) -> None:
    notifier = make_notifier(smtp_server, username=USERNAME, password=PASSWORD)

    error = send_failing(notifier)

    assert error.permanent
    assert "does not offer AUTH" in str(error)
    assert smtp_server.handler.commands == []


@pytest.mark.parametrize(
    ("command", "reply", "permanent"),
    [
        ("MAIL", "421 4.3.2 Service shutting down", False),
        ("MAIL", "553 5.7.1 Sender address rejected", True),
        ("MAIL", "530 5.7.0 Must issue a STARTTLS command first", True),
        ("RCPT", "451 4.7.1 Greylisted, try again later", False),
        ("RCPT", "550 5.1.1 No such user", True),
        ("DATA", "451 4.3.0 Local error in processing", False),
        ("DATA", "554 5.7.1 Message rejected as spam", True),
    ],
)
def test_4xx_replies_are_transient_and_5xx_permanent(
    smtp_server: RunningServer, command: str, reply: str, permanent: bool
) -> None:
    smtp_server.handler.replies[command] = reply

    error = send_failing(make_notifier(smtp_server))

    assert error.permanent is permanent
    assert reply in str(error)
    assert smtp_server.handler.deliveries == []


def test_one_refused_recipient_stops_the_mail_for_all(
    smtp_server: RunningServer,
) -> None:
    smtp_server.handler.refused_recipients["oncall@example.org"] = (
        "550 5.1.1 No such user"
    )

    error = send_failing(make_notifier(smtp_server))

    assert error.permanent
    assert "oncall@example.org (550 5.1.1 No such user)" in str(error)
    assert "DATA" not in smtp_server.handler.commands


@pytest.mark.parametrize("command", ["MAIL", "DATA"])
def test_server_hanging_up_is_transient(
    smtp_server: RunningServer, command: str
) -> None:
    smtp_server.handler.hang_up_on = command

    error = send_failing(make_notifier(smtp_server))

    assert not error.permanent
    assert "closed the connection" in str(error)
    assert smtp_server.handler.deliveries == []


def test_server_hanging_up_after_accepting_the_mail_is_a_delivery(
    smtp_server: RunningServer,
) -> None:
    smtp_server.handler.hang_up_on = "QUIT"

    receipt = make_notifier(smtp_server).send(MESSAGE)

    assert receipt.detail.startswith("250 ")
    assert len(smtp_server.handler.deliveries) == 1


def test_connection_refused_is_transient() -> None:
    # A bound socket that does not listen: the port is taken, and refuses.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        channel = make_channel(closed.getsockname()[1])

        error = send_failing(EmailNotifier(channel, None, None))

    assert not error.permanent
    assert "connection refused" in str(error)


def test_silent_server_times_out_transient() -> None:
    # Listening but never accepting: the greeting never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        channel = make_channel(silent.getsockname()[1], timeout=0.3)

        error = send_failing(EmailNotifier(channel, None, None))

    assert not error.permanent
    assert "no answer within 0.3 seconds" in str(error)


def test_already_delivered_message_is_not_sent_again(
    smtp_server: RunningServer,
) -> None:
    receipt = make_notifier(smtp_server).send(MESSAGE, skip_posts=1)

    assert receipt.detail == "already sent"
    assert smtp_server.handler.commands == []


def test_username_without_password_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="password_env"):
        EmailNotifier(make_channel(25), USERNAME, None)


def test_recipient_that_is_not_an_address_is_refused_with_the_config() -> None:
    with pytest.raises(
        ValidationError, match=re.escape("'ops at example.com' is not a mail address")
    ):
        make_channel(25, to=["ops at example.com"])
