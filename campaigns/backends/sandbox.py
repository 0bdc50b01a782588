"""The sandbox: every channel's default when no provider is configured (a fresh clone, the demo).

It sends nothing. Each message is appended to a JSON-lines file per channel and day under
var/sandbox/ (what would have gone out, for a developer to read), and answers like a provider
that works: sent with an id, except a small, realistic share of addresses it refuses (an e-mail
that bounces, a phone number that does not exist). After the batch, campaigns.services.sandbox
simulates what members do later (deliveries, opens, clicks, LINE blocks, bounces) through the
same services the real webhooks call, so the demo's reports and timelines have life.
"""

import hashlib
import json
import threading
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from campaigns.backends.base import (
    AGGREGATION_UNIT_RE,
    INSIGHT_OK,
    INSIGHT_UNKNOWN,
    ChannelBackend,
    InsightBackend,
    MessageInsight,
    OutboundMessage,
    SendResult,
)
from campaigns.models import DeliveryReason

# Share of addresses a provider refuses outright, per channel (hard bounces, dead numbers).
REFUSED_SHARE = {"email": 0.01, "sms": 0.005, "push": 0.02, "line": 0.0}
_write_lock = threading.Lock()


def sandbox_draw(key: str, salt: str) -> float:
    """A number in [0, 1) fixed by the message and the question, so a rerun draws the same."""
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def sandbox_dir() -> Path:
    return Path(settings.VAR_DIR) / "sandbox"


class SandboxBackend(ChannelBackend):
    name = "sandbox"
    max_batch_size = 500
    idempotent = True  # nothing leaves the machine, so a repeated call harms nobody
    simulates_events = True

    def provider_id(
        self, message: OutboundMessage, *, retry_key: str, call: Sequence[OutboundMessage]
    ) -> str:
        """The id the provider would answer for this message of the call `call`."""
        return f"sandbox-{uuid.uuid5(uuid.NAMESPACE_URL, retry_key + message.key)}"

    def send_batch(
        self, messages: Sequence[OutboundMessage], *, retry_key: str
    ) -> list[SendResult]:
        now = timezone.now()
        results: list[SendResult] = []
        lines: list[str] = []
        refused_share = REFUSED_SHARE.get(self.channel, 0.0)
        for message in messages:
            if sandbox_draw(message.key, "refused") < refused_share:
                results.append(
                    SendResult.failed(
                        "sandbox: the provider refused this address",
                        reason=DeliveryReason.ADDRESS_INVALID,
                    )
                )
                continue
            provider_id = self.provider_id(message, retry_key=retry_key, call=messages)
            results.append(SendResult.sent(provider_id))
            lines.append(
                json.dumps(
                    {
                        "at": now.isoformat(),
                        "id": provider_id,
                        "key": message.key,
                        "member_no": message.member_no,
                        "content": message.content,
                    },
                    ensure_ascii=False,
                )
            )
        if lines:
            folder = sandbox_dir()
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{self.channel}-{timezone.localdate(now):%Y%m%d}.jsonl"
            with _write_lock, path.open("a", encoding="utf-8") as out:
                out.write("\n".join(lines) + "\n")
        return results


# LINE Insight as the sandbox imagines it: the share of a request's members who open it, and
# who tap a link (LINE accounts in Taiwan report opens around 60 %); LINE's rule that a figure
# under 20 users is withheld applies.
INSIGHT_OPEN_RATE = (0.45, 0.75)
INSIGHT_CLICK_RATE = (0.03, 0.08)
INSIGHT_MIN_USERS = 20


class SandboxLine(SandboxBackend, InsightBackend):
    """LINE in the sandbox: each call is one multicast, so its messages share one request id
    (as LINE's multicast answers one x-line-request-id); `unit_insight` answers for an
    aggregation unit from its name and the recipients the service says it sent, without a
    network, through the same interface as the real LineBackend."""

    channel = "line"

    def provider_id(
        self, message: OutboundMessage, *, retry_key: str, call: Sequence[OutboundMessage]
    ) -> str:
        request = uuid.uuid5(uuid.NAMESPACE_URL, f"{retry_key}:{call[0].key}")
        return f"sandbox-{request}-n{len(call)}"

    def unit_insight(
        self, unit: str, *, date_from: date, date_to: date, recipients: int
    ) -> MessageInsight:
        if not AGGREGATION_UNIT_RE.match(unit):
            return MessageInsight(INSIGHT_UNKNOWN, error="sandbox: not a valid unit name")

        def share(rate: tuple[float, float], salt: str) -> int | None:
            low, high = rate
            n = round(recipients * (low + (high - low) * sandbox_draw(unit, salt)))
            return n if n >= INSIGHT_MIN_USERS else None

        opened = share(INSIGHT_OPEN_RATE, "insight-open")
        clicked = share(INSIGHT_CLICK_RATE, "insight-click")
        overview = {
            "uniqueImpression": opened,
            "uniqueClick": clicked,
            "uniqueMediaPlayed": None,
            "uniqueMediaPlayed100Percent": None,
        }
        return MessageInsight(
            INSIGHT_OK,
            unique_impression=opened,
            unique_click=clicked,
            raw={"overview": overview, "messages": [], "clicks": []},
        )


class SandboxEmail(SandboxBackend):
    channel = "email"


class SandboxSms(SandboxBackend):
    channel = "sms"


class SandboxPush(SandboxBackend):
    channel = "push"
