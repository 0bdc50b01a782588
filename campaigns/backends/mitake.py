"""Mitake (三竹資訊), Taiwan's largest SMS gateway: up to 500 messages per call (SmBulkSend).

    POST {MITAKE_API_BASE_URL}/api/mtk/SmBulkSend?username=…&password=…&Encoding_PostIn=UTF8
    Content-Type: text/plain; charset=utf-8

    ClientID$$dstaddr$$dlvtime$$vldtime$$destname$$response$$smbody      (one line a message)

The answer is one INI-like block per message, named by its ClientID, and the points left:

    [clientid]
    msgid=1010079522
    statuscode=1
    AccountPoint=98

A call refused as a whole (wrong password, …) answers a lone `statuscode=e`. Status codes 0-4
mean accepted (0 scheduled, 1-3 handed to the carrier, 4 delivered); letters are account and
system errors (a, b, r and * are temporary), 5-9 message errors (6: a wrong number).

Why the backend is idempotent: Mitake remembers each ClientID for 12 hours and answers a
repeated one with its first answer plus `Duplicate=Y`, sending nothing. Our ClientID is a
uuid5 of the batch's retry_key (stored before the first call) and the message key, so a worker
that takes over a dead worker's call sends it again unchanged and every message counts once.

Numbers: Mitake wants Taiwan mobiles as 09xxxxxxxx (10 digits) and other countries as the
E.164 digits without "+" (country code first), so +886912345678 → 0912345678 and
+85291234567 → 85291234567. A newline in the text is sent as chr(6), Mitake's line break.
"""

import logging
import uuid
from collections.abc import Sequence

import requests
from django.conf import settings

from campaigns.backends.base import ChannelBackend, OutboundMessage, SendResult, all_failed
from campaigns.backends.retry_after import retry_after_seconds
from campaigns.models import DeliveryReason

logger = logging.getLogger(__name__)

TIMEOUT = (5, 60)  # a 500-message call takes Mitake a while to answer
CLIENT_ID_NAMESPACE = uuid.UUID("2f1c8a6e-4b1d-5f0a-9c55-6d1f3c8e7a10")

ACCEPTED = {"0", "1", "2", "3", "4"}
TEMPORARY = {"a", "b", "r", "*"}
WRONG_NUMBER = {"v", "6"}
# Mitake's own words for each status code (for the operator, as the provider wrote them).
STATUS_WORDS = {
    "*": "系統發生錯誤",
    "a": "簡訊發送功能暫時停止服務",
    "b": "簡訊發送功能暫時停止服務",
    "c": "請輸入帳號",
    "d": "請輸入密碼",
    "e": "帳號、密碼錯誤",
    "f": "帳號已過期",
    "h": "帳號已被停用",
    "k": "無效的連線位址",
    "m": "必須變更密碼",
    "n": "密碼已逾期",
    "p": "沒有權限使用外部Http程式",
    "r": "系統暫停服務",
    "s": "帳務處理失敗",
    "t": "簡訊已過期",
    "u": "簡訊內容不得為空白",
    "v": "無效的手機號碼",
    "5": "內容有錯誤",
    "6": "門號有錯誤",
    "7": "簡訊已停用",
    "8": "逾時無送達",
    "9": "預約已取消",
}


def mitake_client_id(*, retry_key: str, key: str) -> str:
    """The ClientID of one message of one call: the same on every retry of the call."""
    return str(uuid.uuid5(CLIENT_ID_NAMESPACE, f"{retry_key}:{key}"))


def mitake_number(e164: str) -> str:
    """+886912345678 → 0912345678; any other country: its E.164 digits without the plus."""
    digits = e164.strip().lstrip("+")
    if digits.startswith("886"):
        return "0" + digits[3:]
    return digits


def mitake_body(text: str) -> str:
    """The text on one line: newlines become chr(6), Mitake's line break."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", chr(6))


def mitake_parse(body: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """({clientid: {key: value}}, keys outside any block) of a SmBulkSend answer."""
    blocks: dict[str, dict[str, str]] = {}
    outside: dict[str, str] = {}
    current = outside
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = blocks.setdefault(line[1:-1], {})
        elif "=" in line:
            key, value = line.split("=", 1)
            if key == "AccountPoint":
                outside[key] = value  # after the last block, or in each: the account's
            else:
                current[key] = value
    return blocks, outside


def _result(status: str, fields: dict[str, str]) -> SendResult:
    if status in ACCEPTED:
        return SendResult.sent(fields.get("msgid", ""))
    words = f"mitake {status or '?'}: {STATUS_WORDS.get(status, 'unknown status')}"
    if status in TEMPORARY:
        return SendResult.failed(words, reason=DeliveryReason.PROVIDER_ERROR, retryable=True)
    if status in WRONG_NUMBER:
        return SendResult.failed(words, reason=DeliveryReason.ADDRESS_INVALID)
    return SendResult.failed(words, reason=DeliveryReason.PROVIDER_REJECTED)


class MitakeBackend(ChannelBackend):
    channel = "sms"
    name = "mitake"
    max_batch_size = 500
    idempotent = True

    def __init__(self) -> None:
        self.url = f"{settings.MITAKE_API_BASE_URL}/api/mtk/SmBulkSend"
        self.params = {
            "username": settings.MITAKE_USERNAME,
            "password": settings.MITAKE_PASSWORD,
            "Encoding_PostIn": "UTF8",
        }
        self.session = requests.Session()
        self.account_point: int | None = None  # what the last answer said is left

    def close(self) -> None:
        self.session.close()

    def send_batch(
        self, messages: Sequence[OutboundMessage], *, retry_key: str
    ) -> list[SendResult]:
        if len(messages) > self.max_batch_size:
            raise ValueError(f"Mitake takes {self.max_batch_size} messages a call")
        client_ids = [mitake_client_id(retry_key=retry_key, key=m.key) for m in messages]
        lines = [
            "$$".join(
                (
                    client_id,
                    mitake_number(message.address),
                    "",  # dlvtime: now (quiet hours are the pipeline's)
                    "",  # vldtime: Mitake's default, 24 hours
                    message.key,  # destname: our key, no personal data, shown in Mitake's logs
                    "",  # response: no delivery-receipt URL
                    mitake_body(str(message.content.get("text", ""))),
                )
            )
            for client_id, message in zip(client_ids, messages, strict=True)
        ]
        try:
            response = self.session.post(
                self.url,
                params=self.params,
                data="\r\n".join(lines).encode(),
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=TIMEOUT,
            )
        except requests.RequestException as error:
            # Safe to repeat: the same ClientIDs make Mitake drop what it already took.
            return all_failed(messages, f"mitake: {type(error).__name__}", retryable=True)
        if response.status_code == 429 or response.status_code >= 500:
            return all_failed(
                messages,
                f"mitake HTTP {response.status_code}",
                retryable=True,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if response.status_code != 200:
            return all_failed(
                messages,
                f"mitake HTTP {response.status_code}",
                retryable=False,
                reason=DeliveryReason.PROVIDER_REJECTED,
            )
        blocks, outside = mitake_parse(response.content.decode("utf-8", errors="replace"))
        if outside.get("AccountPoint", "").isdigit():
            self.account_point = int(outside["AccountPoint"])
            logger.info("mitake: %s points left", self.account_point)
        if not blocks:
            # The call was refused as a whole (a wrong password answers a lone statuscode=e).
            return [_result(outside.get("statuscode", ""), outside)] * len(messages)
        results = []
        for client_id in client_ids:
            fields = blocks.get(client_id)
            if fields is None:
                # Not answered: asking again is safe and tells us.
                results.append(
                    SendResult.failed("mitake: no answer for this message", retryable=True)
                )
            else:
                results.append(_result(fields.get("statuscode", ""), fields))
        return results
