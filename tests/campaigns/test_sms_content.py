"""SMS content rules: a text is required, and a text whose longest member's copy is over the
segment limit is refused before launch, with the reason and the field lengths assumed."""

import pytest
from django.utils import translation

from campaigns.content import content_validate
from campaigns.content.sms import sms_worst_case
from campaigns.sms import sms_counter


def _errors(text, language="en"):
    with translation.override(language):
        errors = content_validate(channel="sms", content={"text": text})
    return [error.message for error in errors]


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.CAMPAIGN_SMS_MAX_SEGMENTS = 2


def test_text_is_required():
    assert _errors("") == ["Write the SMS text."]
    assert _errors("   ") == ["Write the SMS text."]


def test_a_text_within_the_limit_passes():
    assert _errors("週" * 134) == []  # two UCS-2 parts of 67


def test_a_text_over_the_limit_is_refused_with_the_count():
    (message,) = _errors("週" * 135)
    assert "3 segments" in message
    assert "UCS-2" in message
    assert "the limit is 2" in message


def test_the_limit_is_a_setting(settings):
    settings.CAMPAIGN_SMS_MAX_SEGMENTS = 3
    assert _errors("週" * 135) == []


def test_personalisation_is_counted_at_its_longest():
    # 125 characters plus {{name}} is 2 segments with 王小明 but 3 with a 10-character name.
    text = "{{name}}" + "週" * 125
    assert sms_counter(text.replace("{{name}}", "王小明")).segments == 2
    assert sms_counter(sms_worst_case(text)).segments == 3
    (message,) = _errors(text)
    assert "{{name}} as 10 Chinese characters" in message


def test_a_chinese_name_makes_an_english_text_ucs2():
    text = "Hi {{name}}, " + "a" * 130  # 143 GSM-7 characters, but the name is Chinese
    (message,) = _errors(text)
    assert "UCS-2" in message


def test_member_number_counts_at_twenty_characters(settings):
    settings.CAMPAIGN_SMS_MAX_SEGMENTS = 1
    assert _errors("a" * 140 + "{{member_no}}") == []  # 160 septets
    (message,) = _errors("a" * 141 + "{{member_no}}")
    assert "{{member_no}} as 20 characters" in message


def test_the_reason_is_translated():
    (message,) = _errors("{{name}}" + "週" * 130, language="zh-hant")
    assert "3 則" in message and "{{name}}" in message and "10 個中文字" in message
