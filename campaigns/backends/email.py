"""E-mail through Django's mail API: SMTP (EMAIL_HOST) or any ESP behind django-anymail.

One connection (`get_connection()`, i.e. settings.EMAIL_BACKEND) is opened on the first call and
kept for every call of the batch, so a batch of 500 messages is one SMTP session, not 500; it is
closed by `close()` and dropped after any error that may have broken it (the next call opens a
new one).

Each message is one `EmailMultiAlternatives`: the text part always, the HTML part when the
content has one (with the preheader as hidden preview text), a Message-ID fixed by the delivery
(so a message retried after a temporary refusal keeps its id, and the provider id is known
before the provider answers), and the RFC 8058 one-click unsubscribe headers.

SMTP answers are mapped to the pipeline's outcomes: a 5xx refusal of the recipient is a bad
address (failed, not retried; the pipeline records a bounce), a 4xx, a dropped connection or a
timeout is retried later. anymail's exceptions are mapped the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
from collections.abc import Sequence
from email.utils import parseaddr

from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.html import escape

from campaigns.backends.base import ChannelBackend, OutboundMessage, SendResult
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


def result_for_error(error: Exception) -> tuple[SendResult, bool]:
    """(the failed result, whether the connection may be broken) for a send's exception."""
    words = _words(error)
    if isinstance(error, AnymailRecipientsRefused | AnymailInvalidAddress):
        return SendResult.failed(words, reason=DeliveryReason.ADDRESS_INVALID), False
    if isinstance(error, AnymailAPIError):
        status = error.status_code
        retryable = status is None or status >= 500 or status == 429
        reason = DeliveryReason.PROVIDER_ERROR if retryable else DeliveryReason.PROVIDER_REJECTED
        return SendResult.failed(words, reason=reason, retryable=retryable), True
    if isinstance(error, AnymailError):  # content the ESP cannot send (unsupported feature, …)
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_REJECTED), False
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True), True
    if isinstance(error, smtplib.SMTPAuthenticationError):
        # Our credentials, not the message: retried, so a fixed password still sends it.
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True), True
    code = _smtp_code(error)
    if code is not None:
        if 400 <= code < 500:
            # 421 closes the session; smtplib has already hung up: reconnect next time.
            return SendResult.failed(
                words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True
            ), code == 421
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            return SendResult.failed(words, reason=DeliveryReason.ADDRESS_INVALID), False
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_REJECTED), False
    if isinstance(error, ValueError):  # Django's "Invalid address": it can never be delivered
        return SendResult.failed(words, reason=DeliveryReason.ADDRESS_INVALID), False
    if isinstance(error, OSError | smtplib.SMTPException):
        # Connection refused, reset, a timeout (TimeoutError is an OSError).
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True), True
    raise error


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
            connection = get_connection(fail_silently=False)
            connection.open()
            self.connection = connection
        return self.connection

    def send_batch(
        self, messages: Sequence[OutboundMessage], *, retry_key: str
    ) -> list[SendResult]:
        return [self._send_one(message) for message in messages]

    def _send_one(self, message: OutboundMessage) -> SendResult:
        try:
            connection = self._connection()
            mail = email_build(message, connection=connection)
            connection.send_messages([mail])
        except Exception as error:  # mapped below; anything else is re-raised
            result, broken = result_for_error(error)
            logger.info("e-mail %s to delivery %s: %s", message.key, message.delivery_id, error)
            if broken:
                self.close()
            return result
        status = getattr(mail, "anymail_status", None)
        provider_id = getattr(status, "message_id", None) if status is not None else None
        return SendResult.sent(
            str(provider_id) if provider_id else mail.extra_headers["Message-ID"]
        )

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.close()
        except Exception:  # a broken connection is thrown away anyway
            logger.debug("e-mail connection close failed", exc_info=True)
