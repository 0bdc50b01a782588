"""LINE Messaging API through the official line-bot-sdk (v3).

Messages of a batch whose rendered content and aggregation unit are the same go out as
multicasts of at most 500 user ids; personalised ones (content that differs per member) as one
push each. Every request carries the messages' custom aggregation unit (`customAggregationUnits`,
one name: the campaign's variant, "c123_A"), so one request never mixes units. Every request
carries an `X-Line-Retry-Key` derived from the batch's `retry_key` (stored on the SendBatch
before any call) and the keys of the messages it carries, so the same request after a crash or
a timeout carries the same key: LINE answers 409 ("already accepted") and the messages count as
sent, never as a second copy.

`unit_insight(unit, date_from=, date_to=)` asks LINE's Insight API how members took the
messages of one unit (GET /v2/bot/insight/message/event/aggregation: unique impressions and
clicks; LINE withholds a figure under 20 users and reports no delivered count per unit).

Answers: 409 → sent (the accepted request's id); 429 → retry after `Retry-After`, except the
monthly limit (no retry can succeed this month); 400/401/403/… → failed, not retried; 5xx and
network errors → retryable (the retry key makes the repeat safe).
"""

import json
import uuid
from collections.abc import Sequence
from datetime import date

from django.conf import settings
from linebot.v3.insight import ApiClient as InsightApiClient
from linebot.v3.insight import ApiException as InsightApiException
from linebot.v3.insight import Configuration as InsightConfiguration
from linebot.v3.insight import Insight
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    MulticastRequest,
    PushMessageRequest,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from campaigns.backends.base import (
    INSIGHT_ERROR,
    INSIGHT_OK,
    INSIGHT_RATE_LIMITED,
    INSIGHT_UNKNOWN,
    ChannelBackend,
    InsightBackend,
    MessageInsight,
    OutboundMessage,
    SendResult,
)
from campaigns.backends.retry_after import retry_after_seconds
from campaigns.models import DeliveryReason

MULTICAST_MAX_RECIPIENTS = 500
MONTHLY_LIMIT_MESSAGE = "You have reached your monthly limit."


def line_retry_key(batch_retry_key: str, message_keys: Sequence[str]) -> str:
    """The X-Line-Retry-Key of one request: fixed by the batch and the messages it carries."""
    try:
        namespace = uuid.UUID(batch_retry_key)
    except ValueError:
        namespace = uuid.uuid5(uuid.NAMESPACE_URL, batch_retry_key)
    return str(uuid.uuid5(namespace, ",".join(message_keys)))


def _header(headers, name: str) -> str:
    if not headers:
        return ""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def _retry_after(headers) -> float | None:
    return retry_after_seconds(_header(headers, "retry-after") or None)


def _error_text(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body or "")
    except ValueError:
        return f"LINE {exc.status}: {body or exc.reason}"
    if not isinstance(data, dict):
        return f"LINE {exc.status}: {body}"
    words = str(data.get("message") or exc.reason or "")
    details = "; ".join(
        f"{d.get('property', '')}: {d.get('message', '')}"
        for d in data.get("details") or []
        if isinstance(d, dict)
    )
    return f"LINE {exc.status}: {words}" + (f" ({details})" if details else "")


def _invalid(error: Exception) -> SendResult:
    """Content the SDK's models refuse (the builder's checks should have caught it): LINE would
    answer 400, so it is not sent and not retried."""
    words = " ".join(str(error).split())[:300]
    return SendResult.failed(
        f"LINE message invalid: {words}", reason=DeliveryReason.PROVIDER_REJECTED
    )


class LineBackend(ChannelBackend, InsightBackend):
    channel = "line"
    name = "line"
    max_batch_size = MULTICAST_MAX_RECIPIENTS
    idempotent = True

    def __init__(self) -> None:
        configuration = Configuration(
            host=settings.LINE_API_BASE_URL, access_token=settings.LINE_CHANNEL_ACCESS_TOKEN
        )
        self.timeout = float(settings.LINE_API_TIMEOUT_SECONDS)
        self.client = ApiClient(configuration)
        self.api = MessagingApi(self.client)

        self._insight_client: InsightApiClient | None = None

    def close(self) -> None:
        self.client.close()
        if self._insight_client is not None:
            self._insight_client.close()

    def unit_insight(
        self, unit: str, *, date_from: date, date_to: date, recipients: int
    ) -> MessageInsight:
        if self._insight_client is None:
            configuration = InsightConfiguration(
                host=settings.LINE_API_BASE_URL, access_token=settings.LINE_CHANNEL_ACCESS_TOKEN
            )
            # urllib3 would sleep out a 429's Retry-After and ask again inside the call; the
            # job decides instead (it stops and leaves the rest to its next run).
            configuration.retries = False
            self._insight_client = InsightApiClient(configuration)
        api = Insight(self._insight_client)
        # The generated client pins api.line.me per call; the same base URL as the sends.
        api.line_base_path = settings.LINE_API_BASE_URL
        try:
            answer = api.get_statistics_per_unit(
                unit, f"{date_from:%Y%m%d}", f"{date_to:%Y%m%d}", _request_timeout=self.timeout
            )
        except InsightApiException as exc:
            return _insight_refusal(exc)
        except (Urllib3Error, OSError, ValueError) as exc:
            return MessageInsight(INSIGHT_ERROR, error=f"LINE unreachable: {exc}"[:500])
        raw = answer.to_dict()
        overview = answer.overview
        if overview is None:
            return MessageInsight(INSIGHT_OK, raw=raw)
        return MessageInsight(
            INSIGHT_OK,
            unique_impression=overview.unique_impression,
            unique_click=overview.unique_click,
            unique_media_played=overview.unique_media_played,
            raw=raw,
        )

    def send_batch(
        self, messages: Sequence[OutboundMessage], *, retry_key: str
    ) -> list[SendResult]:
        # Group by rendered content and aggregation unit, in first-seen order: one multicast
        # per distinct (content, unit) shared by several members, one push for content only
        # one member gets. A request carries one unit, so two variants never share one.
        groups: dict[tuple[str, str], list[int]] = {}
        for index, message in enumerate(messages):
            # repr, not json.dumps: twice as fast, and contents rendered from one template
            # keep one key order, so equal content gives an equal signature.
            signature = repr(message.content.get("messages"))
            groups.setdefault((signature, message.aggregation_unit), []).append(index)
        results: list[SendResult | None] = [None] * len(messages)
        for indexes in groups.values():
            if len(indexes) == 1:
                index = indexes[0]
                results[index] = self._push(messages[index], retry_key=retry_key)
                continue
            for start in range(0, len(indexes), MULTICAST_MAX_RECIPIENTS):
                chunk = indexes[start : start + MULTICAST_MAX_RECIPIENTS]
                result = self._multicast([messages[i] for i in chunk], retry_key=retry_key)
                for i in chunk:
                    results[i] = result
        return results  # type: ignore[return-value]  (every index is filled above)

    def _push(self, message: OutboundMessage, *, retry_key: str) -> SendResult:
        try:
            body = {"to": message.address, "messages": message.content.get("messages") or []}
            if message.aggregation_unit:
                body["customAggregationUnits"] = [message.aggregation_unit]
            request = PushMessageRequest.from_dict(body)
        except (ValueError, TypeError, KeyError) as error:
            return _invalid(error)
        key = line_retry_key(retry_key, [message.key])
        return self._call(self.api.push_message_with_http_info, request, key)

    def _multicast(self, messages: Sequence[OutboundMessage], *, retry_key: str) -> SendResult:
        # The messages are validated by the SDK's models once; the 500 ids need no model (the
        # pipeline's addresses are normalised LINE user ids), and validating each costs more
        # than the HTTP call to a fast server.
        try:
            shared = PushMessageRequest.from_dict(
                {"to": messages[0].address, "messages": messages[0].content.get("messages") or []}
            )
        except (ValueError, TypeError, KeyError) as error:
            return _invalid(error)
        unit = messages[0].aggregation_unit
        request = MulticastRequest.construct(
            to=[message.address for message in messages],
            messages=shared.messages,
            notification_disabled=False,
            custom_aggregation_units=[unit] if unit else None,
        )
        key = line_retry_key(retry_key, [message.key for message in messages])
        return self._call(self.api.multicast_with_http_info, request, key)

    def _call(self, method, request, key: str) -> SendResult:
        try:
            response = method(request, x_line_retry_key=key, _request_timeout=self.timeout)
        except ApiException as exc:
            return self._refusal(exc)
        except (Urllib3Error, OSError) as exc:
            return SendResult.failed(
                f"LINE unreachable: {exc}", reason=DeliveryReason.PROVIDER_ERROR, retryable=True
            )
        return SendResult.sent(_header(response.headers, "x-line-request-id"))

    def _refusal(self, exc: ApiException) -> SendResult:
        status = exc.status or 0
        error = _error_text(exc)
        if status == 409:
            # The same key was accepted before (a retry after a crash or a timeout): sent.
            accepted = _header(exc.headers, "x-line-accepted-request-id")
            return SendResult.sent(accepted or _header(exc.headers, "x-line-request-id"))
        if status == 429:
            if MONTHLY_LIMIT_MESSAGE.lower() in error.lower():
                return SendResult.failed(error, reason=DeliveryReason.PROVIDER_REJECTED)
            return SendResult.failed(
                error,
                reason=DeliveryReason.PROVIDER_ERROR,
                retryable=True,
                retry_after=_retry_after(exc.headers),
            )
        if status >= 500 or status in (0, 408):
            return SendResult.failed(error, reason=DeliveryReason.PROVIDER_ERROR, retryable=True)
        return SendResult.failed(error, reason=DeliveryReason.PROVIDER_REJECTED)


def _insight_refusal(exc) -> MessageInsight:
    status = exc.status or 0
    error = _error_text(exc)[:500]
    if status == 429:
        return MessageInsight(
            INSIGHT_RATE_LIMITED, error=error, retry_after=_retry_after(exc.headers)
        )
    if status in (400, 404):
        return MessageInsight(INSIGHT_UNKNOWN, error=error)
    return MessageInsight(INSIGHT_ERROR, error=error)
