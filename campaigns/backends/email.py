"""E-mail through Django's mail API: SMTP (EMAIL_HOST) or any ESP behind django-anymail.

One connection (settings.EMAIL_BACKEND; see `email_connection()`) is opened on the first call and
kept for every call of the batch, so a batch of 500 messages is one SMTP session, not 500; it is
closed by `close()` and dropped after any error that may have broken it (the next call opens a
new one).

Each message is one `EmailMultiAlternatives`: the text part always, the HTML part when the
content has one (with the preheader as hidden preview text), a Message-ID fixed by the delivery
(so a message retried after a temporary refusal keeps its id, and the provider id is known
before the provider answers), and the RFC 8058 one-click unsubscribe headers.

SMTP answers are mapped to the pipeline's outcomes: a 5xx refusal of the recipient is a bad
address (failed, not retried; the pipeline records a bounce), a 4xx is retried later. A dropped
connection or a timeout depends on when it happened (RFC 1047): before the message went out
(the connection would not open, or a kept connection the server had closed while idle failed
at MAIL FROM) nothing was stored and it is retried; once DATA has started the server may
have stored the message and only its "250" was lost, so it ends "failed: outcome unknown" and
is never sent again (at most once, as for every provider without an idempotency key). An ESP
call through anymail is treated the same way: a connection that never opened is retried, a
request that went out without an answer is an unknown outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
from collections.abc import Sequence
from email.utils import parseaddr

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.utils.html import escape
from django.utils.module_loading import import_string

from campaigns.backends.base import ChannelBackend, OutboundMessage, SendResult
from campaigns.backends.http_errors import request_never_sent
from campaigns.models import DeliveryReason

logger = logging.getLogger(__name__)

ONE_CLICK = "List-Unsubscribe=One-Click"


def message_id_domain() -> str:
    """CAMPAIGN_EMAIL_MESSAGE_ID_DOMAIN, else the domain of the From address."""
    domain = settings.CAMPAIGN_EMAIL_MESSAGE_ID_DOMAIN
    if not domain:
        domain = parseaddr(settings.CAMPAIGN_EMAIL_FROM)[1].rpartition("@")[2]
    return domain or "localhost"


def message_id_for(key: str) -> str:
    """`<key.mac@domain>`: the same for every attempt at one delivery, and not guessable from
    the delivery id alone (the MAC is keyed with SECRET_KEY)."""
    mac = hmac.new(
        settings.SECRET_KEY.encode(), f"campaigns.message-id:{key}".encode(), hashlib.sha256
    ).hexdigest()[:20]
    return f"<{key}.{mac}@{message_id_domain()}>"


def preheader_html(preheader: str) -> str:
    """The preview text mail clients show after the subject, hidden in the body itself."""
    return (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true">'
        f"{escape(preheader)}</div>"
    )


def email_build(message: OutboundMessage, *, connection=None) -> EmailMultiAlternatives:
    """The e-mail for one outbound message (also used by the test send)."""
    content = message.content
    headers = {"Message-ID": message_id_for(message.key)}
    if message.unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = ONE_CLICK
    mail = EmailMultiAlternatives(
        subject=str(content.get("subject") or ""),
        body=str(content.get("text") or ""),
        from_email=settings.CAMPAIGN_EMAIL_FROM,
        to=[message.address],
        headers=headers,
        connection=connection,
    )
    # ESPs (through anymail) hand this back with their open, click and delivery events.
    mail.metadata = {"delivery": message.key}
    html = str(content.get("html") or "")
    if html:
        preheader = str(content.get("preheader") or "")
        mail.attach_alternative(
            preheader_html(preheader) + html if preheader else html, "text/html"
        )
    return mail


def _smtp_code(error: Exception) -> int | None:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return max(codes) if codes else None
    return getattr(error, "smtp_code", None)


def _text(reply) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _words(error: Exception) -> str:
    """The server's own answer, for the operator (stored on the delivery)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{address}: {code} {_text(reply)}"
            for address, (code, reply) in error.recipients.items()
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    return f"{type(error).__name__}: {error}"


def _outcome_unknown(words: str) -> SendResult:
    return SendResult.failed(
        f"no answer after the message was sent, not resent: {words}",
        reason=DeliveryReason.OUTCOME_UNKNOWN,
    )


def result_for_error(error: Exception, *, handed_over: bool = True) -> tuple[SendResult, bool]:
    """(the failed result, whether the connection may be broken) for a send's exception.

    `handed_over`: the message may have reached the server (SMTP: DATA had started; True when
    the backend cannot tell). A timeout or a dropped connection then leaves the message
    possibly stored, so it is an unknown outcome, never retried."""
    words = _words(error)
    # An ESP call that got no HTTP answer (anymail's error for an HTTP status is a requests
    # HTTPError too, with the status: mapped below).
    if isinstance(error, requests.RequestException) and getattr(error, "status_code", None) is None:
        if request_never_sent(error) or not isinstance(
            error,
            requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError,
        ):
            return SendResult.failed(
                words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True
            ), True
        # A read timeout, a connection reset after the request went out: the ESP may have
        # queued the message (anymail sends no idempotency key).
        return _outcome_unknown(words), True
    if isinstance(error, AnymailRecipientsRefused | AnymailInvalidAddress):
        return SendResult.failed(words, reason=DeliveryReason.ADDRESS_INVALID), False
    if isinstance(error, AnymailAPIError):
        status = error.status_code
        retryable = status is None or status >= 500 or status == 429
        reason = DeliveryReason.PROVIDER_ERROR if retryable else DeliveryReason.PROVIDER_REJECTED
        return SendResult.failed(words, reason=reason, retryable=retryable), True
    if isinstance(error, AnymailError):  # content the ESP cannot send (unsupported feature, …)
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_REJECTED), False
    code = _smtp_code(error)
    # smtplib turns every socket error and timeout into SMTPServerDisconnected (an OSError,
    # as every SMTPException is); only an SMTP reply carries a code.
    if code is None and isinstance(error, OSError) and handed_over:
        return _outcome_unknown(words), True
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True), True
    if isinstance(error, smtplib.SMTPAuthenticationError):
        # Our credentials, not the message: retried, so a fixed password still sends it.
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True), True
    if code is not None:
        if 400 <= code < 500:
            # The server said it did not take the message (at MAIL, RCPT or after DATA).
            # 421 closes the session; smtplib has already hung up: reconnect next time.
            return SendResult.failed(
                words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True
            ), code == 421
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            return SendResult.failed(words, reason=DeliveryReason.ADDRESS_INVALID), False
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_REJECTED), False
    if isinstance(error, ValueError):  # Django's "Invalid address": it can never be delivered
        return SendResult.failed(words, reason=DeliveryReason.ADDRESS_INVALID), False
    if isinstance(error, OSError):
        # Before the message went out: connection refused, reset, a timeout.
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True), True
    raise error


class _DataPhase:
    """An smtplib session that remembers whether DATA was started: smtplib raises the same
    SMTPServerDisconnected for a session that was already dead at MAIL FROM (nothing sent:
    safe to retry) and for a "250" that never came after the message (the server may have
    stored it: must not be sent again)."""

    data_started = False

    def data(self, msg):
        self.data_started = True
        return super().data(msg)  # type: ignore[misc]


class _SMTP(_DataPhase, smtplib.SMTP):
    pass


class _SMTPSSL(_DataPhase, smtplib.SMTP_SSL):
    pass


class SMTPConnection(DjangoSMTPBackend):
    """Django's SMTP backend (the same EMAIL_* settings) on sessions that know their phase;
    used in its place when settings.EMAIL_BACKEND is Django's SMTP backend."""

    @property
    def connection_class(self):
        return _SMTPSSL if self.use_ssl else _SMTP


def email_connection():
    """A connection per settings.EMAIL_BACKEND (Django's SMTP one swapped for SMTPConnection)."""
    if import_string(settings.EMAIL_BACKEND) is DjangoSMTPBackend:
        return SMTPConnection(fail_silently=False)
    return get_connection(fail_silently=False)


class EmailBackend(ChannelBackend):
    channel = "email"
    name = "email"
    # SMTP has no idempotency key: one message per call, so at most one is in doubt when a
    # worker dies (campaigns/services/sending.py).
    max_batch_size = 1
    idempotent = False

    def __init__(self) -> None:
        self.connection = None

    def _connection(self):
        if self.connection is None:
            connection = email_connection()
            connection.open()
            self.connection = connection
        return self.connection

    def send_batch(
        self, messages: Sequence[OutboundMessage], *, retry_key: str
    ) -> list[SendResult]:
        return [self._send_one(message) for message in messages]

    def _send_one(self, message: OutboundMessage) -> SendResult:
        reused = self.connection is not None
        try:
            connection = self._connection()
            mail = email_build(message, connection=connection)
        except Exception as error:  # no session (or no message): nothing was handed over
            return self._failed(message, error, handed_over=False)
        session = getattr(connection, "connection", None)  # the smtplib session, for SMTP
        if isinstance(session, _DataPhase):
            session.data_started = False
        try:
            connection.send_messages([mail])
        except Exception as error:
            # Only our SMTP session can tell; any other backend's network error is in doubt.
            handed_over = session.data_started if isinstance(session, _DataPhase) else True
            if reused and not handed_over and isinstance(error, smtplib.SMTPServerDisconnected):
                # The kept session was closed by the server while idle (its timeout, a
                # restart); found at MAIL FROM, before any of the message went out. Once more
                # on a new session (not reused: no further round).
                self.close()
                return self._send_one(message)
            return self._failed(message, error, handed_over=handed_over)
        status = getattr(mail, "anymail_status", None)
        provider_id = getattr(status, "message_id", None) if status is not None else None
        return SendResult.sent(
            str(provider_id) if provider_id else mail.extra_headers["Message-ID"]
        )

    def _failed(self, message: OutboundMessage, error: Exception, *, handed_over: bool):
        result, broken = result_for_error(error, handed_over=handed_over)
        logger.info("e-mail %s to delivery %s: %s", message.key, message.delivery_id, error)
        if broken:
            self.close()
        return result

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.close()
        except Exception:  # a broken connection is thrown away anyway
            logger.debug("e-mail connection close failed", exc_info=True)
