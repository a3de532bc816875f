"""Email, sent only after the transaction that asked for it commits (an outbox on the session).

Services call :func:`queue`; the message waits in ``session.info`` until the session commits,
then goes out through SMTP. A rollback (or a session closed without committing) drops it, so
nobody is ever told about a change that did not happen (Indico's ``web/rh.py``: send email only
after the commit). Messages are plain text and never carry a secret: say where to look, not what
the value is.

Settings (config.py, from HANDOVER_SMTP_*): ``SMTP_HOST`` (empty: email is disabled and each
dropped message is logged), ``SMTP_PORT``, ``SMTP_USERNAME``/``SMTP_PASSWORD`` (both or
neither), ``SMTP_STARTTLS``, ``SMTP_FROM``.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from app.extensions import db

log = logging.getLogger("handover.mail")

#: Keys in ``Session.info``: messages waiting for the commit, and what the last commit delivered.
OUTBOX = "handover_mail_outbox"
DELIVERED = "handover_mail_delivered"
#: Seconds to wait for the SMTP server before giving up on a delivery.
TIMEOUT = 10


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


@dataclass
class Delivery:
    """What one commit's outbox came to."""

    sent: list[Message] = field(default_factory=list)
    failed: list[Message] = field(default_factory=list)
    #: Email is switched off (no SMTP host): nothing was attempted.
    disabled: bool = False


@dataclass(frozen=True)
class Settings:
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    sender: str = "handover@localhost"

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        return cls(
            host=config.get("SMTP_HOST") or "",
            port=int(config.get("SMTP_PORT") or 25),
            username=config.get("SMTP_USERNAME") or None,
            password=config.get("SMTP_PASSWORD") or None,
            starttls=bool(config.get("SMTP_STARTTLS")),
            sender=config.get("SMTP_FROM") or "handover@localhost",
        )

    @property
    def enabled(self) -> bool:
        return bool(self.host)


def _one_line(text: str) -> str:
    """Header values cannot hold line breaks (a typed campaign name must not add headers)."""
    return " ".join(text.split())


def current_settings() -> Settings:
    from flask import current_app

    return Settings.from_config(current_app.config)


def enabled() -> bool:
    """Whether an SMTP host is configured."""
    return current_settings().enabled


def queue(to: str, subject: str, body: str) -> Message:
    """Hold a message until the current transaction commits; a rollback drops it.

    Raises ValueError for an address without "@" (a programming error: people's work emails are
    validated when they are saved).
    """
    to = to.strip()
    if "@" not in to or any(ch in to for ch in "\r\n,;"):
        raise ValueError(f"not an email address: {to!r}")
    message = Message(to=to, subject=_one_line(subject), body=body)
    session = db.session()
    _listen(session)
    session.info.setdefault(OUTBOX, []).append(message)
    return message


def pending() -> list[Message]:
    """The messages waiting for this session's commit (for tests and diagnostics)."""
    return list(db.session().info.get(OUTBOX, []))


def last_delivery() -> Delivery:
    """What the most recent commit of this session sent (an empty Delivery if it sent nothing)."""
    return db.session().info.get(DELIVERED) or Delivery()


def _listen(session: Session) -> None:
    if not event.contains(session, "after_commit", _after_commit):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_transaction_end", _after_transaction_end)


def _after_commit(session: Session) -> None:
    messages = session.info.pop(OUTBOX, [])
    session.info[DELIVERED] = send(messages) if messages else Delivery()


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended: after a commit the outbox is already empty; after a
    # rollback or a close, whatever is left belongs to changes that never happened.
    if transaction.parent is None and not transaction.nested:
        dropped = session.info.pop(OUTBOX, [])
        if dropped:
            log.info("dropped %d queued email(s): their transaction did not commit", len(dropped))


def _build(settings: Settings, message: Message) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or "localhost")
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
    email.set_content(message.body)
    return email


def send(messages: list[Message], settings: Settings | None = None) -> Delivery:
    """Deliver now, over one SMTP connection. Never raises: failures are logged and reported.

    Called after the commit; use :func:`queue` from services.
    """
    settings = settings or current_settings()
    delivery = Delivery()
    if not settings.enabled:
        delivery.disabled = True
        for message in messages:
            log.info("email is disabled (HANDOVER_SMTP_HOST is not set); not sent to %s: %s", message.to, message.subject)
        return delivery
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username and settings.password:
                smtp.login(settings.username, settings.password)
            for message in messages:
                try:
                    smtp.send_message(_build(settings, message))
                except smtplib.SMTPException as error:  # one refused recipient must not stop the rest
                    log.error("email to %s was refused: %s", message.to, error)
                    delivery.failed.append(message)
                else:
                    delivery.sent.append(message)
    except (OSError, smtplib.SMTPException) as error:
        # The connection failed or dropped: whatever was not tried yet is reported as failed.
        unsent = messages[len(delivery.sent) + len(delivery.failed) :]
        log.error("could not send %d email(s) through %s:%s: %s", len(unsent), settings.host, settings.port, error)
        delivery.failed.extend(unsent)
    return delivery
