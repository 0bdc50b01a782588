"""Push content: what FCM and browsers would cut or refuse is refused in the builder, with the
reason, before launch."""

from campaigns.content import content_render, content_validate
from campaigns.content.push import (
    BODY_MAX,
    ERROR_BODY_TOO_LONG,
    ERROR_IMAGE,
    ERROR_NO_BODY,
    ERROR_NO_TITLE,
    ERROR_NOT_TEXT,
    ERROR_TITLE_TOO_LONG,
    ERROR_URL,
    TITLE_MAX,
)

GOOD = {
    "title": "週年慶開跑",
    "body": "全館 8 折，只到週日。",
    "url": "https://shop.example.com/sale",
    "image": "https://cdn.example.com/sale.jpg",
}


def _errors(content: dict) -> dict[str, str]:
    return {e.field: e.message for e in content_validate(channel="push", content=content)}


def test_good_content_passes():
    assert _errors(GOOD) == {}
    assert _errors({"title": "標題", "body": "內文"}) == {}  # url and image are optional


def test_title_and_body_are_required():
    assert _errors({"title": " ", "body": ""}) == {
        "title": str(ERROR_NO_TITLE),
        "body": str(ERROR_NO_BODY),
    }


def test_title_over_65_characters_is_refused_and_65_is_fine():
    assert TITLE_MAX == 65
    assert _errors({**GOOD, "title": "字" * 65}) == {}
    assert _errors({**GOOD, "title": "字" * 66}) == {
        "title": str(ERROR_TITLE_TOO_LONG % {"count": 66, "max": 65})
    }


def test_body_over_240_characters_is_refused():
    assert BODY_MAX == 240
    assert _errors({**GOOD, "body": "字" * 240}) == {}
    assert _errors({**GOOD, "body": "字" * 241}) == {
        "body": str(ERROR_BODY_TOO_LONG % {"count": 241, "max": 240})
    }


def test_url_and_image_must_be_https():
    assert _errors({**GOOD, "url": "shop.example.com/sale"}) == {"url": str(ERROR_URL)}
    assert _errors({**GOOD, "image": "http://cdn.example.com/a.jpg"}) == {"image": str(ERROR_IMAGE)}
    # An http link is also a link that is not https (the rule every channel shares).
    messages = [
        e.message
        for e in content_validate(channel="push", content={**GOOD, "url": "http://x.example"})
    ]
    assert str(ERROR_URL) in messages
    assert _errors({**GOOD, "image": 3}) == {"image": str(ERROR_NOT_TEXT)}


def test_reasons_are_translated():
    from django.utils import translation

    with translation.override("zh-hant"):
        errors = _errors({**GOOD, "title": "字" * 70, "image": "ftp://x"})
    assert errors == {
        "title": "標題有 70 個字，推播標題最多 65 個字。",
        "image": "圖片必須是完整的 https:// 網址。",
    }


def test_render_personalises_title_body_and_url():
    content = {**GOOD, "title": "{{name}}", "url": "https://x.example/?m={{member_no}}"}
    rendered = content_render(
        channel="push", content=content, substitute=lambda t: t.replace("{{name}}", "王小明")
    )
    assert rendered["title"] == "王小明"
    assert rendered["image"] == GOOD["image"]
