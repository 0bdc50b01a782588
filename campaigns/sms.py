"""SMS segment arithmetic: how many parts a text is sent in, and what a campaign will cost.

One set of functions for the builder (live count while the marketer types), content validation
(the segment limit) and the confirm page (the cost estimate), so they never disagree.

- GSM-7 (3GPP TS 23.038): the basic alphabet is one septet a character; the extension table
  (€ [ ] { } ^ ~ \\ | and form feed) takes two (an escape and the character). One segment holds
  160 septets; a concatenated message spends 7 septets of each part on its header, so 153.
- Anything outside GSM-7 (Chinese, emoji, most accented capitals) sends the whole message as
  UCS-2 (UTF-16 on every handset today): 70 code units in one segment, 67 per part. An emoji
  outside the BMP is a surrogate pair, two code units.
- A multi-part message never splits an escape pair or a surrogate pair across two parts (the
  receiving phone could not join them), so a character that does not fit in what is left of a
  part starts the next one: the count below packs parts that way, as Twilio and the carriers do.
"""

from dataclasses import dataclass

from django.conf import settings

GSM7 = "GSM-7"
UCS2 = "UCS-2"

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# (one segment, per part of a concatenated message), in the encoding's units.
LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SmsCount:
    encoding: str  # GSM7 or UCS2
    characters: int  # septets (GSM-7, extension characters count 2) or UTF-16 code units
    segments: int  # 0 for an empty text
    per_segment: int  # what one segment holds for this text: 160/153 or 70/67
    remaining: int  # units still free in the last segment


def _units(text: str) -> tuple[str, list[int]]:
    """The encoding and each character's size in that encoding's units."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        return GSM7, [2 if char in GSM7_EXTENSION else 1 for char in text]
    return UCS2, [2 if ord(char) > 0xFFFF else 1 for char in text]


def sms_counter(text: str) -> SmsCount:
    """How the text is sent: encoding, length, segments and what is left in the last one."""
    encoding, sizes = _units(text)
    single, part = LIMITS[encoding]
    total = sum(sizes)
    if total <= single:
        return SmsCount(
            encoding=encoding,
            characters=total,
            segments=1 if total else 0,
            per_segment=single,
            remaining=single - total,
        )
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:  # a pair never straddles two parts
            segments, used = segments + 1, 0
        used += size
    return SmsCount(
        encoding=encoding,
        characters=total,
        segments=segments,
        per_segment=part,
        remaining=part - used,
    )


def sms_cost_estimate(*, segments: int, recipients: int) -> int:
    """Whole NT$ for sending `segments` segments to each of `recipients` members, rounded up
    (SMS_SEGMENT_PRICE_CENTS is the price of one segment in hundredths of NT$)."""
    cents = max(segments, 0) * max(recipients, 0) * settings.SMS_SEGMENT_PRICE_CENTS
    return -(-cents // 100)
