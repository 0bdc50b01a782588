"""Twilio Programmable Messaging: one REST call per message.

    POST {TWILIO_API_BASE_URL}/2010-04-01/Accounts/{AccountSid}/Messages.json
    Authorization: Basic AccountSid:AuthToken
    To=+8869…&From=+1…|MessagingServiceSid=MG…&Body=…      (form-encoded)

201 answers the Message resource ({"sid": "SM…", "status": "queued", …}); an error answers
{"code": 21211, "message": …, "more_info": …, "status": 400}. We use `requests` with one Session
per backend instance (the pipeline makes one per batch, so its keep-alive connection serves
every message of the batch) rather than the twilio SDK: the call is one form POST, the SDK
would add a dependency whose exceptions we would map back to the same status codes anyway.

Twilio keeps no idempotency key for this call, so the backend is not idempotent: the pipeline
sends one message per call and never repeats a call whose outcome it does not know. For the
same reason a read timeout (the request reached Twilio, the answer did not reach us) is
"outcome unknown", not retried; a refused connection, a connect timeout, 5xx and 429 are
retried (nothing was accepted).
"""

from collections.abc import Sequence

import requests
from django.conf import settings

from campaigns.backends.base import ChannelBackend, OutboundMessage, SendResult
from campaigns.backends.http_errors import request_never_sent
from campaigns.backends.retry_after import retry_after_seconds
from campaigns.models import DeliveryReason

# (connect, read) seconds: a connection that does not open is retried, a silent answer is not.
TIMEOUT = (5, 30)

# Twilio error codes (https://www.twilio.com/docs/api/errors) that say the address is wrong.
INVALID_NUMBER_CODES = {21211, 21614, 21217, 21401, 21612}
# The recipient replied STOP to this sender: Twilio refuses every message until they reply START.
UNSUBSCRIBED_CODES = {21610}


class TwilioBackend(ChannelBackend):
    channel = "sms"
    name = "twilio"
    max_batch_size = 1
    idempotent = False

    def __init__(self) -> None:
        self.account_sid = settings.TWILIO_ACCOUNT_SID
        self.url = (
            f"{settings.TWILIO_API_BASE_URL}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        )
        self.sender = settings.TWILIO_FROM
        self.session = requests.Session()
        self.session.auth = (self.account_sid, settings.TWILIO_AUTH_TOKEN)

    def close(self) -> None:
        self.session.close()

    def send_batch(
        self, messages: Sequence[OutboundMessage], *, retry_key: str
    ) -> list[SendResult]:
        return [self.send_one(message) for message in messages]

    def send_one(self, message: OutboundMessage) -> SendResult:
        form = {"To": message.address, "Body": message.content.get("text", "")}
        # A Messaging Service (MG…) picks the sender number itself (and handles STOP lists).
        form["MessagingServiceSid" if self.sender.startswith("MG") else "From"] = self.sender
        try:
            response = self.session.post(self.url, data=form, timeout=TIMEOUT)
        except requests.RequestException as error:
            if request_never_sent(error):
                return SendResult.failed(f"twilio: {error}", retryable=True)
            # Twilio may have taken it (no idempotency key): never a second SMS.
            return SendResult.failed(
                f"twilio: no answer ({error})", reason=DeliveryReason.OUTCOME_UNKNOWN
            )
        if response.status_code in (200, 201):
            return SendResult.sent(_json(response).get("sid", ""))
        return self.refusal(response)

    def refusal(self, response: requests.Response) -> SendResult:
        body = _json(response)
        code = body.get("code")
        words = f"twilio {response.status_code}"
        if code:
            words += f" ({code})"
        if body.get("message"):
            words += f": {body['message']}"
        status = response.status_code
        if status == 429:
            return SendResult.failed(
                words,
                reason=DeliveryReason.PROVIDER_ERROR,
                retryable=True,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 500:
            return SendResult.failed(words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True)
        if code in UNSUBSCRIBED_CODES:
            # The pipeline records the opt-out (a Consent with this as its proof).
            return SendResult.failed(words, reason=DeliveryReason.UNSUBSCRIBED)
        if code in INVALID_NUMBER_CODES:
            return SendResult.failed(words, reason=DeliveryReason.ADDRESS_INVALID)
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_REJECTED)


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
