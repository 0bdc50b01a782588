"""E-mail content rules: what a mail server or a mail client would refuse is refused before
launch, with the reason, and rendering keeps headers on one line and HTML safe."""

import pytest

from campaigns.content import content_fields, content_render, content_validate
from campaigns.content.email import (
    ERROR_NO_SUBJECT,
    ERROR_NO_TEXT,
    ERROR_ONE_LINE,
    ERROR_SUBJECT_TOO_LONG,
)
from campaigns.personalise import substitute_with

GOOD = {"subject": "週年慶", "text": "Hi {{name}}", "html": "<p>Hi {{name}}</p>"}


def _errors(content: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in content_validate(channel="email", content=content):
        found.setdefault(error.field, []).append(error.message)
    return found


def test_good_content_passes():
    assert _errors(GOOD) == {}
    assert _errors({"subject": "週年慶", "text": "Hi", "preheader": "全館 8 折"}) == {}


def test_an_email_without_a_text_part_is_refused():
    assert _errors({"subject": "週年慶", "html": "<p>Hi</p>"}) == {"text": [str(ERROR_NO_TEXT)]}
    assert _errors({**GOOD, "text": "   "}) == {"text": [str(ERROR_NO_TEXT)]}


def test_the_subject_is_required_one_line_and_at_most_200_characters():
    assert _errors({**GOOD, "subject": ""}) == {"subject": [str(ERROR_NO_SUBJECT)]}
    assert _errors({**GOOD, "subject": "週年慶\r\nBcc: everyone@example.com"}) == {
        "subject": [str(ERROR_ONE_LINE)]
    }
    assert _errors({**GOOD, "subject": "折" * 200}) == {}
    assert _errors({**GOOD, "subject": "折" * 201}) == {
        "subject": [str(ERROR_SUBJECT_TOO_LONG % {"max": 200, "count": 201})]
    }


def test_the_preheader_is_optional_and_one_line():
    assert _errors({**GOOD, "preheader": "a\nb"}) == {"preheader": [str(ERROR_ONE_LINE)]}
    assert list(_errors({**GOOD, "preheader": "x" * 251})) == ["preheader"]


@pytest.mark.django_db
def test_fields_and_links_are_checked_in_every_part():
    errors = _errors(
        {
            "subject": "Hi {{nickname}}",
            "text": "http://shop.example.com",
            "html": '<a href="http://shop.example.com">x</a>',
        }
    )
    assert any("nickname" in message for message in errors["subject"])
    assert any("https://" in message for message in errors["text"])
    assert any("https://" in message for message in errors["html"])
    assert content_fields(channel="email", content={**GOOD, "subject": "{{member_no}}"}) == {
        "name",
        "member_no",
    }


def test_rendering_personalises_each_part_escapes_html_and_keeps_the_subject_one_line():
    rendered = content_render(
        channel="email",
        content={**GOOD, "subject": "{{name}}，週年慶", "preheader": "{{name}} 專屬"},
        substitute=substitute_with({"name": "<b>王\n小明</b>"}),
    )
    assert rendered["subject"] == "<b>王 小明</b>，週年慶"
    assert rendered["preheader"] == "<b>王 小明</b> 專屬"
    assert rendered["text"] == "Hi <b>王\n小明</b>"
    assert rendered["html"] == "<p>Hi &lt;b&gt;王\n小明&lt;/b&gt;</p>"
