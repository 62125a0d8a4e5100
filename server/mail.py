"""Outgoing e-mail: SMTP (STARTTLS, TLS or plain on a trusted relay), or `.eml` files in an
outbox directory for the embedded `make run` set-up and for demos."""

from __future__ import annotations

import secrets
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Literal, Protocol

import structlog

log = structlog.get_logger("server.mail")


class MailError(Exception):
    """The message could not be handed over; nothing was sent."""


class Mailer(Protocol):
    """Sends one plain-text message."""

    def send(self, to: str, subject: str, body: str) -> None: ...


def mask_address(address: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`: enough to recognise, not to harvest."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(body)
    return message


class OutboxMailer:
    """Writes each message as an `.eml` file (mode 0600) instead of sending it."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.directory / f"{stamp}-{secrets.token_hex(4)}.eml"
        try:
            with path.open("xb") as handle:
                path.chmod(0o600)
                handle.write(bytes(_message(self.sender, to, subject, body)))
        except OSError as exc:
            raise MailError(f"cannot write to the outbox {self.directory}: {exc.strerror}") from exc
        log.info("mail.written", to=mask_address(to), path=str(path))


class SmtpMailer:
    """Hands messages to an SMTP server."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        security: Literal["starttls", "tls", "none"] = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.security = security
        self._username, self._password = username, password
        self.timeout = timeout

    def send(self, to: str, subject: str, body: str) -> None:
        context = ssl.create_default_context()
        try:
            if self.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=context)
                if self._username:
                    client.login(self._username, self._password or "")
                client.send_message(_message(self.sender, to, subject, body))
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"the SMTP server {self.host}:{self.port} did not take the message "
                f"({type(exc).__name__})"
            ) from exc
        log.info("mail.sent", to=mask_address(to), relay=f"{self.host}:{self.port}")
