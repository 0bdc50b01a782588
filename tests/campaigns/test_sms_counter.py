"""SMS segment arithmetic: GSM-7 160/153, UCS-2 70/67, extension characters, surrogate pairs,
and the cost estimate rounded up to whole NT$."""

import pytest

from campaigns.sms import GSM7, UCS2, SmsCount, sms_cost_estimate, sms_counter


@pytest.mark.parametrize(
    ("length", "segments", "per_segment", "remaining"),
    [(1, 1, 160, 159), (160, 1, 160, 0), (161, 2, 153, 145), (306, 2, 153, 0), (307, 3, 153, 152)],
)
def test_gsm7_segments(length, segments, per_segment, remaining):
    count = sms_counter("a" * length)
    assert count == SmsCount(GSM7, length, segments, per_segment, remaining)


@pytest.mark.parametrize(
    ("length", "segments", "per_segment", "remaining"),
    [(70, 1, 70, 0), (71, 2, 67, 63), (134, 2, 67, 0), (135, 3, 67, 66)],
)
def test_chinese_is_ucs2(length, segments, per_segment, remaining):
    count = sms_counter("好" * length)
    assert count == SmsCount(UCS2, length, segments, per_segment, remaining)


def test_one_chinese_character_makes_the_whole_message_ucs2():
    count = sms_counter("a" * 69 + "週")
    assert (count.encoding, count.segments) == (UCS2, 1)
    assert sms_counter("a" * 70 + "週").segments == 2


def test_extension_characters_take_two_septets():
    count = sms_counter("€" * 80)
    assert (count.encoding, count.characters, count.segments) == (GSM7, 160, 1)
    assert sms_counter("€" * 80 + "a").segments == 2
    for char in "[]{}^~\\|€":
        assert sms_counter(char).characters == 2, char


def test_an_escape_pair_is_not_split_between_parts():
    # 152 septets, then "€" (2) does not fit in the first part's last septet.
    count = sms_counter("a" * 152 + "€" + "a" * 10)
    assert (count.characters, count.segments, count.remaining) == (164, 2, 153 - 12)


def test_gsm7_basic_accents_stay_gsm7_but_others_do_not():
    assert sms_counter("éèÄÖ£¥").encoding == GSM7
    assert sms_counter("ê").encoding == UCS2  # not in the GSM-7 alphabet


def test_emoji_take_two_ucs2_units_and_are_not_split():
    assert sms_counter("😀" * 35) == SmsCount(UCS2, 70, 1, 70, 0)
    assert sms_counter("😀" * 35 + "a").segments == 2
    # 66 units, then a surrogate pair: it starts the second part instead of straddling.
    count = sms_counter("a" * 66 + "😀" + "a" * 5)
    assert (count.characters, count.segments, count.remaining) == (73, 2, 67 - 7)


def test_empty_text_is_no_segment():
    assert sms_counter("") == SmsCount(GSM7, 0, 0, 160, 160)


def test_cost_is_rounded_up_to_whole_dollars(settings):
    settings.SMS_SEGMENT_PRICE_CENTS = 90
    assert sms_cost_estimate(segments=1, recipients=1) == 1  # NT$0.90 → 1
    assert sms_cost_estimate(segments=2, recipients=10) == 18
    assert sms_cost_estimate(segments=3, recipients=1001) == 2703  # 2702.7 → 2703
    assert sms_cost_estimate(segments=0, recipients=500) == 0
    settings.SMS_SEGMENT_PRICE_CENTS = 75
    assert sms_cost_estimate(segments=1, recipients=3) == 3  # 2.25 → 3
