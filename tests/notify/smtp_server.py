"""A real SMTP server on loopback, built on aiosmtpd, for the email tests.

Its handler records every command and accepted mail, and can be told to
answer a command with a given reply (451, 550...) or to hang up when a
command arrives. Variants speak STARTTLS, TLS from the first byte (port 465
style) and AUTH after STARTTLS, with certificates from a throw-away CA that
trustme makes in the test.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
QUEUED_REPLY = "250 2.0.0 Ok: queued as ABC123"

Mode = Literal["plain", "starttls", "ssl"]


@dataclass(frozen=True)
class Delivery:
    """One mail the server accepted, as it arrived."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: str | None


@dataclass
class RecordingHandler:
    """aiosmtpd handler: records what arrives, refuses or hangs up on demand.

    ``replies`` maps a command (MAIL, RCPT, DATA, QUIT) to the reply it gets
    instead of success; ``refused_recipients`` does the same per address;
    ``hang_up_on`` names a command at which the server drops the connection
    without a word.
    """

    replies: dict[str, str] = field(default_factory=dict)
    refused_recipients: dict[str, str] = field(default_factory=dict)
    hang_up_on: str | None = None
    commands: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if reply := self._scripted(server, "MAIL"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if reply := self._scripted(server, "RCPT"):
            return reply
        if address in self.refused_recipients:
            return self.refused_recipients[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if reply := self._scripted(server, "DATA"):
            return reply
        auth_data = session.auth_data
        self.deliveries.append(
            Delivery(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                content=bytes(envelope.original_content or b""),
                tls=is_tls(server),
                login=(
                    auth_data.login.decode()
                    if isinstance(auth_data, LoginPassword)
                    else None
                ),
            )
        )
        return QUEUED_REPLY

    async def handle_QUIT(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        return self._scripted(server, "QUIT") or "221 Bye"

    def _scripted(self, server: SMTP, command: str) -> str | None:
        """Record ``command``; hang up or return its scripted reply, if any."""
        self.commands.append(command)
        if self.hang_up_on == command:
            # abort() drops the socket at once: the reply aiosmtpd then
            # pushes goes nowhere, as with a crashed server.
            cast(asyncio.Transport, server.transport).abort()
            return "421 4.3.0 never seen"
        return self.replies.get(command)


def is_tls(server: SMTP) -> bool:
    """Whether the server's current connection is encrypted."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


@dataclass(frozen=True)
class PasswordChecker:
    """aiosmtpd authenticator that accepts one user name and password."""

    username: str
    password: str

    def __call__(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        accepted = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.username.encode()
            and auth_data.password == self.password.encode()
        )
        # handled=False lets aiosmtpd answer a refusal with its own 535.
        return AuthResult(success=accepted, handled=False, auth_data=auth_data)


class LoopbackController(Controller):
    """aiosmtpd's threaded Controller on 127.0.0.1, at a port the system picks."""

    def __init__(self, handler: RecordingHandler, **kwargs: Any) -> None:
        super().__init__(handler, hostname=HOST, port=0, **kwargs)

    def _trigger_server(self) -> None:
        # Port 0 asks the system for a free port. aiosmtpd then connects to
        # its own server to see it answer, so learn the real port first.
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class RunningServer:
    """A started server: where it listens and what it received."""

    host: str
    port: int
    handler: RecordingHandler


def make_server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server-side TLS context with a certificate for 127.0.0.1 from ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "localhost").configure_cert(context)
    return context


@contextmanager
def run_smtp_server(
    mode: Mode = "plain",
    *,
    ca: trustme.CA | None = None,
    credentials: tuple[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Run an SMTP server on loopback for the duration of the ``with`` block.

    "starttls" offers and requires STARTTLS, "ssl" speaks TLS from the first
    byte; both need ``ca`` to sign their certificate. ``credentials``
    requires AUTH, which aiosmtpd offers only after STARTTLS.
    """
    handler = RecordingHandler()
    options: dict[str, Any] = {}
    if mode != "plain":
        if ca is None:
            raise ValueError(f"a {mode} server needs a CA for its certificate")
        context = make_server_context(ca)
        if mode == "starttls":
            options.update(tls_context=context, require_starttls=True)
        else:
            options.update(ssl_context=context)
    if credentials is not None:
        options.update(authenticator=PasswordChecker(*credentials), auth_required=True)

    controller = LoopbackController(handler, **options)
    controller.start()
    try:
        yield RunningServer(HOST, controller.port, handler)
    finally:
        controller.stop()
