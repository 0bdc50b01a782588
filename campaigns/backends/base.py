"""The one small interface every channel provider sits behind (DESIGN.md §6).

A backend gets a list of messages already personalised and addressed, calls its provider, and
answers one `SendResult` per message, in the same order. It never touches the database: the
pipeline (campaigns/services/sending.py) writes the outcome, so every backend is exactly as
safe as the outbox around it.

- `max_batch_size`: messages the pipeline hands over per call (LINE multicast: 500; a
  provider with one request per message: 1, so each message's outcome is committed before the
  next one is sent).
- `idempotent`: the provider drops a repeated call that carries the same `retry_key`
  (LINE's X-Line-Retry-Key, Mitake's clientid). Then a worker that takes over a dead worker's
  call repeats it with the same key and counts it as sent; for the other providers the
  pipeline marks the one message in flight as "outcome unknown" instead of sending it again.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

from campaigns.models import DeliveryReason

SENT = "sent"
FAILED = "failed"


@dataclass(frozen=True)
class OutboundMessage:
    """One message to one address. `key` is stable for this delivery across retries."""

    key: str  # "d<delivery id>" for a campaign's delivery, "t<uuid>" for a test send
    channel: str
    address: str  # LINE user id, e-mail address, E.164 phone, FCM token or web-push endpoint
    content: dict  # the channel's content (campaigns/models.py Message), personalised
    delivery_id: int | None = None
    member_no: str = ""
    unsubscribe_url: str = ""  # one-click unsubscribe (RFC 8058) for e-mail, "" for a test send
    extra: dict = field(default_factory=dict)  # per-address data (web push keys, …)
    # LINE: the custom aggregation unit the request carries (line_aggregation_unit), so LINE
    # counts the campaign variant's opens and clicks; "" for a test send and other channels.
    aggregation_unit: str = ""


@dataclass(frozen=True)
class SendResult:
    status: str  # SENT or FAILED
    provider_id: str = ""
    reason: str = ""  # a DeliveryReason code when failed
    error: str = ""  # the provider's own words, for the operator
    retryable: bool = False  # a later attempt may succeed (timeouts, 5xx, 429)
    retry_after: float | None = None  # seconds the provider asked us to wait (429)
    address_gone: bool = False  # token/subscription the provider calls unregistered: remove it

    @classmethod
    def sent(cls, provider_id: str = "") -> SendResult:
        return cls(status=SENT, provider_id=provider_id)

    @classmethod
    def failed(
        cls,
        error: str,
        *,
        reason: str = DeliveryReason.PROVIDER_REJECTED,
        retryable: bool = False,
        retry_after: float | None = None,
        address_gone: bool = False,
    ) -> SendResult:
        return cls(
            status=FAILED,
            reason=str(reason),
            error=error[:500],
            retryable=retryable,
            retry_after=retry_after,
            address_gone=address_gone,
        )

    @property
    def ok(self) -> bool:
        return self.status == SENT


class ChannelBackend(abc.ABC):
    """Subclasses set `channel` and implement `send_batch`; `close` frees connections."""

    channel: ClassVar[str]
    name: ClassVar[str]  # "line", "sandbox", "smtp", … shown on the campaign page
    max_batch_size: ClassVar[int] = 1
    idempotent: ClassVar[bool] = False
    # The sandbox answers for its members too: the pipeline then asks it to simulate their
    # opens, clicks and blocks (campaigns/services/sandbox.py). Real providers report those
    # through their webhooks.
    simulates_events: ClassVar[bool] = False

    @abc.abstractmethod
    def send_batch(
        self, messages: Sequence[OutboundMessage], *, retry_key: str
    ) -> list[SendResult]:
        """One result per message, in order. Never raises for a provider's refusal or a
        network error: those are failed results (retryable when a later try may work)."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections kept between calls (an SMTP session, an HTTP pool)."""

    def __enter__(self) -> ChannelBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def all_failed(
    messages: Sequence[OutboundMessage],
    error: str,
    *,
    retryable: bool,
    retry_after: float | None = None,
    reason: str = DeliveryReason.PROVIDER_ERROR,
) -> list[SendResult]:
    """The same failure for every message of a call that failed as a whole."""
    result = SendResult.failed(error, reason=reason, retryable=retryable, retry_after=retry_after)
    return [result] * len(messages)


# --- LINE Insight: what LINE says about the messages sent under one aggregation unit ---------

INSIGHT_OK = "ok"
INSIGHT_UNKNOWN = "unknown"  # LINE refuses the question (400: a bad unit name or dates)
INSIGHT_RATE_LIMITED = "rate_limited"  # 429: stop this run, ask the rest later
INSIGHT_ERROR = "error"  # network, 5xx, auth: ask again next run

AGGREGATION_UNIT_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")  # LINE's rule for a unit name


def line_aggregation_unit(*, campaign_id: int, variant: str) -> str:
    """The custom aggregation unit of a campaign's variant ("c123_A"): every multicast and
    push of that variant carries it, and LINE reports opens and clicks per unit."""
    return f"c{campaign_id}_{variant or 'A'}"


@dataclass(frozen=True)
class MessageInsight:
    """LINE's figures for one aggregation unit; a figure LINE withholds (fewer than 20 users,
    not counted yet) is None. LINE's per-unit statistics carry no delivered count."""

    status: str
    unique_impression: int | None = None
    unique_click: int | None = None
    unique_media_played: int | None = None
    raw: dict = field(default_factory=dict)
    error: str = ""
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == INSIGHT_OK


class InsightBackend(abc.ABC):
    """A LINE backend that can say how members took the messages of one aggregation unit: the
    real LINE asks the Insight API, the sandbox simulates it; campaigns.services.line_insight
    calls either."""

    @abc.abstractmethod
    def unit_insight(
        self, unit: str, *, date_from: date, date_to: date, recipients: int
    ) -> MessageInsight:
        """The unit's figures over the days `date_from`..`date_to` (UTC+9, LINE's dates).
        `recipients` (what we sent under the unit) is for the sandbox's simulation; LINE is not
        told it. Never raises for LINE's refusal or a network error: those are statuses."""
