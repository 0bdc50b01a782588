"""LINE content rules: what LINE would refuse is refused before launch, with the reason."""

import json

import pytest
from django.utils import translation

from campaigns.content import content_fields, content_render, content_validate

BUBBLE = {
    "type": "bubble",
    "body": {
        "type": "box",
        "layout": "vertical",
        "contents": [
            {"type": "text", "text": "{{name}} 您好", "wrap": True},
            {
                "type": "text",
                "contents": [{"type": "span", "text": "會員 {{member_no}}"}],
            },
        ],
    },
}
FLEX = {"type": "flex", "altText": "{{name}}，週年慶", "contents": BUBBLE}


def _errors(*messages) -> dict[str, str]:
    with translation.override("en"):
        errors = content_validate(channel="line", content={"messages": list(messages)})
    return {error.field: error.message for error in errors}


def test_valid_text_image_and_flex_pass():
    image = {
        "type": "image",
        "originalContentUrl": "https://cdn.example.com/a.jpg",
        "previewImageUrl": "https://cdn.example.com/a-small.jpg",
    }
    assert _errors({"type": "text", "text": "週年慶"}, image, FLEX) == {}


@pytest.mark.django_db
def test_no_messages_and_more_than_five_are_refused():
    assert "messages" in _errors()
    text = {"type": "text", "text": "hi"}
    assert "at most 5" in _errors(*[text] * 6)["messages"]
    assert _errors(*[text] * 5) == {}


def test_text_must_be_non_empty_and_at_most_5000_characters():
    assert "messages.0.text" in _errors({"type": "text", "text": "  "})
    assert "5001" in _errors({"type": "text", "text": "字" * 5001})["messages.0.text"]
    assert _errors({"type": "text", "text": "字" * 5000}) == {}


def test_image_urls_must_be_https_and_short():
    errors = _errors(
        {
            "type": "image",
            "originalContentUrl": "http://cdn.example.com/a.jpg",
            "previewImageUrl": "https://x.example/" + "a" * 2000,
        }
    )
    assert "https://" in errors["messages.0.originalContentUrl"]
    assert "2000" in errors["messages.0.previewImageUrl"]
    assert "messages.0.previewImageUrl" in _errors({"type": "image", "originalContentUrl": "x"})


def test_unsupported_types_are_named():
    assert "sticker" in _errors({"type": "sticker", "packageId": "1"})["messages.0.type"]
    assert "messages.0" in _errors("hello")


def test_flex_needs_alt_text_at_most_400():
    assert "messages.0.altText" in _errors({**FLEX, "altText": ""})
    assert "401" in _errors({**FLEX, "altText": "a" * 401})["messages.0.altText"]


def test_flex_contents_must_be_json_of_lines_schema():
    assert "JSON" in _errors({**FLEX, "contents": '{"type": "bubble",'})["messages.0.contents"]
    wrong_type = _errors({**FLEX, "contents": {"type": "bubbl"}})["messages.0.contents"]
    assert "schema" in wrong_type and "bubbl" in wrong_type
    no_layout = {"type": "bubble", "body": {"type": "box", "contents": []}}
    assert "layout" in _errors({**FLEX, "contents": no_layout})["messages.0.contents"]
    assert "messages.0.contents" in _errors({"type": "flex", "altText": "a"})
    # A JSON string (pasted from the Flex Message Simulator) is accepted when valid.
    assert _errors({**FLEX, "contents": json.dumps(BUBBLE)}) == {}


def test_reasons_are_translated(settings):
    with translation.override("zh-hant"):
        [error] = content_validate(channel="line", content={"messages": [{"type": "text"}]})
    assert error.message == "請輸入這則 LINE 訊息的文字。"


@pytest.mark.django_db
def test_personalisation_reaches_flex_alt_text_and_text_nodes():
    content = {
        "messages": [{"type": "text", "text": "{{name}}"}, {**FLEX, "contents": json.dumps(BUBBLE)}]
    }
    assert content_fields(channel="line", content=content) == {"name", "member_no"}
    rendered = content_render(
        channel="line",
        content=content,
        substitute=lambda t: t.replace("{{name}}", "王小明").replace("{{member_no}}", "M001"),
    )
    text, flex = rendered["messages"]
    assert text["text"] == "王小明"
    assert flex["altText"] == "王小明，週年慶"
    body = flex["contents"]["body"]["contents"]
    assert body[0]["text"] == "王小明 您好"
    assert body[1]["contents"][0]["text"] == "會員 M001"
    unknown = content_validate(
        channel="line", content={"messages": [{**FLEX, "altText": "{{nickname}}"}]}
    )
    assert [error.field for error in unknown] == ["messages.0.altText"]
