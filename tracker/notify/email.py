"""Send notifications as email through the channel's SMTP server.

One message is one mail: ``text`` as text/plain and, when there is one,
``html`` as its text/html alternative. The Message-ID is made from the
message's key, so a mail re-sent after a crash is recognisably the same.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, parseaddr

from tracker.config import EmailChannel
from tracker.errors import ConfigError, DeliveryError
from tracker.notify.base import Message, Receipt

log = logging.getLogger(__name__)

# Lines end in CRLF as SMTP wants, and bodies are 7-bit (quoted-printable when
# needed), so the mail passes servers that do not offer 8BITMIME.
MAIL_POLICY = SMTP.clone(cte_type="7bit")

# The longest server reply kept in a receipt or an error message.
MAX_REPLY = 200


class EmailNotifier:
    """Email through an SMTP server.

    ``security`` picks the transport: "ssl" is TLS from the first byte,
    "starttls" upgrades a plain connection and refuses to send if the server
    cannot, "none" sends in clear. Certificates are verified against the
    system's CAs, or ``ca_file`` when set. ``send`` raises DeliveryError,
    permanent for 5xx replies and TLS or configuration problems, transient
    for 4xx replies, timeouts and lost connections.
    """

    def __init__(
        self, channel: EmailChannel, username: str | None, password: str | None
    ) -> None:
        if username is not None and not password:
            raise ConfigError(
                f"channel {channel.name!r}: a username is set but no password; "
                "set password_env to the variable that holds it"
            )
        self.channel = channel
        self.username = username
        self.password = password
        self.envelope_sender = parse_address(channel.name, "from", channel.sender)
        self.envelope_recipients = [
            parse_address(channel.name, "to", recipient) for recipient in channel.to
        ]
        self.where = (
            f"email channel {channel.name!r} ({channel.host}:{channel.smtp_port})"
        )

    def delivered(self, message: Message, since: datetime) -> int | None:
        """A mail server cannot say what it delivered: None.

        A mail sent again keeps its Message-ID, by which mail clients drop
        the second copy.
        """
        return None

    def send(self, message: Message, *, skip_posts: int = 0) -> Receipt:
        """Send ``message`` as one mail to every recipient of the channel.

        An email is one post: ``skip_posts`` of 1 or more means it went out
        already, and nothing is sent again.
        """
        if skip_posts >= 1:
            return Receipt("already sent")

        mail = compose_mail(message, self.channel.sender, self.channel.to)
        payload = mail.as_bytes(policy=MAIL_POLICY)

        started = time.monotonic()
        try:
            code, reply = self._deliver(payload)
        except (smtplib.SMTPException, OSError) as error:
            raise self._describe_failure(error) from None

        log.debug(
            "mail sent channel=%s to=%d bytes=%d seconds=%.2f",
            self.channel.name,
            len(self.envelope_recipients),
            len(payload),
            time.monotonic() - started,
        )
        return Receipt(f"{code} {reply} to={len(self.envelope_recipients)}")

    def _deliver(self, payload: bytes) -> tuple[int, str]:
        """Connect, secure, log in and transfer; return the reply to DATA."""
        smtp = self._connect()
        try:
            smtp.ehlo_or_helo_if_needed()
            if self.channel.security == "starttls":
                self._start_tls(smtp)
            if self.username is not None and self.password is not None:
                self._log_in(smtp, self.username, self.password)

            code, reply = self._transfer(smtp, payload)

            # The mail is accepted: a failing QUIT must not make it look lost,
            # or the retry would deliver it twice.
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError) as error:
                log.debug("quit failed after delivery error=%s", type(error).__name__)
        finally:
            smtp.close()
        return code, reply

    def _connect(self) -> smtplib.SMTP:
        """Open the connection; with "ssl" the TLS handshake happens here."""
        channel = self.channel
        if channel.security == "ssl":
            return smtplib.SMTP_SSL(
                channel.host,
                channel.smtp_port,
                timeout=channel.timeout,
                context=self._tls_context(),
            )
        return smtplib.SMTP(channel.host, channel.smtp_port, timeout=channel.timeout)

    def _tls_context(self) -> ssl.SSLContext:
        """Verify the server's certificate and name, against ``ca_file`` if set."""
        return ssl.create_default_context(cafile=self.channel.ca_file)

    def _start_tls(self, smtp: smtplib.SMTP) -> None:
        """Upgrade to TLS, or refuse to go on in clear."""
        if not smtp.has_extn("starttls"):
            raise DeliveryError(
                f"{self.where}: the server does not offer STARTTLS, and security "
                '"starttls" forbids sending in clear; nothing was sent. Use a server '
                'that offers it, security = "ssl" for a TLS port, or "none" if '
                "clear text is acceptable",
                permanent=True,
            )
        smtp.starttls(context=self._tls_context())
        smtp.ehlo()

    def _log_in(self, smtp: smtplib.SMTP, username: str, password: str) -> None:
        """Authenticate with whichever of the server's mechanisms smtplib knows."""
        if not smtp.has_extn("auth"):
            advice = (
                'use security = "starttls" or "ssl"; many servers offer AUTH '
                "only over TLS"
                if self.channel.security == "none"
                else "remove username_env if this server needs no login"
            )
            raise DeliveryError(
                f"{self.where}: the server does not offer AUTH, so user "
                f"{username!r} cannot log in; {advice}",
                permanent=True,
            )
        smtp.login(username, password)

    def _transfer(self, smtp: smtplib.SMTP, payload: bytes) -> tuple[int, str]:
        """Send the envelope and the mail; return the server's final reply.

        Every recipient must be accepted before DATA: a mail that reached only
        some of them could not be retried without reaching the others twice.
        """
        code, reply = smtp.mail(self.envelope_sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, self.envelope_sender)

        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in self.envelope_recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
        if refused:
            raise self._describe_refused(refused)

        # data() raises if DATA itself is refused, but returns the reply to the
        # mail's end, which may be a refusal too.
        code, reply = smtp.data(payload)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        return code, decode_reply(reply)

    def _describe_refused(self, refused: dict[str, tuple[int, bytes]]) -> DeliveryError:
        """One error naming each refused recipient; permanent if any got a 5xx."""
        permanent = any(code >= 500 for code, _ in refused.values())
        listed = "; ".join(
            f"{recipient} ({code} {decode_reply(reply)})"
            for recipient, (code, reply) in refused.items()
        )
        advice = (
            "fix or remove them in the channel's to"
            if permanent
            else "the server deferred them for now"
        )
        return DeliveryError(
            self._redact(
                f"{self.where}: recipients refused, nothing was sent: {listed}; "
                f"{advice}"
            ),
            permanent=permanent,
        )

    def _describe_failure(
        self, error: smtplib.SMTPException | OSError
    ) -> DeliveryError:
        """Turn an smtplib, TLS or socket error into one line saying what to do."""
        text, permanent = explain_failure(error, self.channel, self.username)
        return DeliveryError(self._redact(f"{self.where}: {text}"), permanent=permanent)

    def _redact(self, text: str) -> str:
        """Hide the password, should a server ever echo it back."""
        if self.password:
            return text.replace(self.password, "***")
        return text


def compose_mail(message: Message, sender: str, recipients: list[str]) -> EmailMessage:
    """Build the mail for ``message``: headers, text part and HTML alternative."""
    mail = EmailMessage(policy=MAIL_POLICY)
    # A header may not hold a line break; the subject comes from a template.
    mail["Subject"] = " ".join(message.subject.split())
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_message_id(message.key, sender)
    # RFC 3834: tells vacation responders and ticket systems not to answer.
    mail["Auto-Submitted"] = "auto-generated"

    mail.set_content(message.text, cte=pick_encoding(message.text))
    if message.html:
        mail.add_alternative(
            message.html, subtype="html", cte=pick_encoding(message.html)
        )
    return mail


def pick_encoding(text: str) -> str | None:
    """Choose quoted-printable for text that is not ASCII.

    The email package would pick base64 for some, which hides the text from
    anyone reading the raw mail; None lets it choose for ASCII text.
    """
    return None if text.isascii() else "quoted-printable"


def make_message_id(key: str, sender: str) -> str:
    """Make the Message-ID of the message with outbox key ``key``.

    The same key always gives the same id, so mail clients can tell that a
    mail re-sent after a crash is the one they already have.
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    return f"<{digest}@{domain if at and domain else 'tracker.invalid'}>"


def parse_address(channel: str, key: str, value: str) -> str:
    """Return the bare address in ``value`` ("Name <a@b>" gives "a@b").

    Raises ConfigError when there is none, or it is not ASCII: smtplib sends
    the envelope in ASCII, and the tracker does not use SMTPUTF8.
    """
    addresses = getaddresses([value])
    address = addresses[0][1] if len(addresses) == 1 else ""
    if "@" not in address or not address.isascii():
        raise ConfigError(
            f"channel {channel!r}: {key} {value!r} is not one ASCII email "
            "address; write e.g. 'Change tracker <tracker@example.com>'"
        )
    return address


def explain_failure(
    error: smtplib.SMTPException | OSError, channel: EmailChannel, username: str | None
) -> tuple[str, bool]:
    """Say what failed and what to do, and whether the failure is permanent."""
    # smtplib reports a reply that never came as a lost connection.
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        return (
            f"no answer within {channel.timeout:g} seconds; check "
            "security and port if it lasts",
            False,
        )
    # smtplib's exceptions derive from OSError: they come first.
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return explain_login_refusal(error, channel, username)
    if isinstance(error, smtplib.SMTPResponseException):
        return explain_reply(error)
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return f"the server closed the connection ({error})", False
    if isinstance(error, smtplib.SMTPException):
        return f"{error}; check the channel's security and login settings", True
    return explain_connection_error(error)


def explain_login_refusal(
    error: smtplib.SMTPAuthenticationError, channel: EmailChannel, username: str | None
) -> tuple[str, bool]:
    """Explain a refused AUTH: 454 is a retry, 535 a wrong user or password."""
    reply = describe_reply(error.smtp_code, error.smtp_error)
    if error.smtp_code < 500:
        return f"login as {username!r} failed for now ({reply})", False
    where = f" in ${channel.password_env}" if channel.password_env else ""
    return (
        f"login as {username!r} refused ({reply}); check the user name and the "
        f"password{where}",
        True,
    )


def explain_reply(error: smtplib.SMTPResponseException) -> tuple[str, bool]:
    """Explain a refusal by its reply code: 4xx is worth a retry, 5xx is not."""
    reply = describe_reply(error.smtp_code, error.smtp_error)
    if isinstance(error, smtplib.SMTPSenderRefused):
        what = f"the server refused sender {error.sender} ({reply})"
        fix = "check from, and that the login may send as it"
    elif isinstance(error, smtplib.SMTPDataError):
        what = f"the server refused the mail ({reply})"
        fix = "retrying will not help; the reply says why"
    elif isinstance(error, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
        what = f"the server refused the connection ({reply})"
        fix = "check host and port"
    else:
        what = f"the server refused ({reply})"
        fix = "check the channel's settings"
    if error.smtp_code == 530:
        # RFC 4954 and RFC 3207: "authentication required", "STARTTLS first".
        fix = "the server wants TLS or a login first; check security and username_env"
    if error.smtp_code < 500:
        return f"{what}", False
    return f"{what}; {fix}", True


def explain_connection_error(error: OSError) -> tuple[str, bool]:
    """Explain a TLS or socket error; only TLS set-up problems are permanent."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"the server's certificate is not trusted ({error.verify_message}); "
            "set ca_file to the CA that signed it, or check host",
            True,
        )
    if isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "the server closed the TLS connection", False
    if isinstance(error, ssl.SSLError):
        return (
            f"TLS failed ({error.reason or error}); check security "
            '("ssl" for port 465, "starttls" for 587) and port',
            True,
        )
    if isinstance(error, ConnectionRefusedError):
        return "connection refused; check host and port if it lasts", False
    reason = error.strerror or str(error) or type(error).__name__
    return (
        f"cannot reach the server ({reason}); check host and port if it lasts",
        False,
    )


def describe_reply(code: int, reply: bytes | str) -> str:
    """Write a server reply on one line: "550 5.1.1 no such user"."""
    return f"{code} {decode_reply(reply)}".strip()


def decode_reply(reply: bytes | str) -> str:
    """Decode a reply's text onto one line, cut to a readable length."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    text = " ".join(text.split())
    return text if len(text) <= MAX_REPLY else text[: MAX_REPLY - 3] + "..."
