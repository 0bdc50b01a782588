"""The builder's LINE section: a list of up to 5 text, image and Flex messages, added, removed
and moved with plain posts (htmx or not), that a draft written through the API survives."""

from html.parser import HTMLParser

import pytest

from campaigns.forms import error_field
from campaigns.models import Campaign
from campaigns.services import campaign_save
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
FLEX = {
    "type": "bubble",
    "body": {
        "type": "box",
        "layout": "vertical",
        "contents": [
            {"type": "text", "text": "{{name}} 的專屬優惠", "weight": "bold"},
            {"type": "text", "text": "全館 8 折"},
        ],
    },
}
MESSAGES = [
    {"type": "flex", "altText": "週年慶優惠", "contents": FLEX},
    {
        "type": "text",
        "text": "{{name}}，週年慶開跑！",
        # A key the builder does not edit (set through the API): kept as it is.
        "quickReply": {
            "items": [
                {"type": "action", "action": {"type": "message", "label": "好", "text": "好"}}
            ]
        },
    },
    {
        "type": "image",
        "originalContentUrl": "https://cdn.example.com/a.jpg",
        "previewImageUrl": "https://cdn.example.com/a-small.jpg",
    },
]


class FormValues(HTMLParser):
    """The values a browser would post for the builder form (its successful controls)."""

    def __init__(self):
        super().__init__()
        self.data: list[tuple[str, str]] = []
        self._textarea = self._select = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.append(
                (name, a.get("value") or ("on" if a.get("type") == "checkbox" else ""))
            )
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data.append((self._select, a.get("value", "")))

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea:
            text = "".join(self._text)
            self.data.append((self._textarea, text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "select":
            self._select = None


def form_values(page: str) -> dict[str, str]:
    parser = FormValues()
    parser.feed(page.split('<form id="campaign-builder"')[1].split("</form>")[0])
    return dict(parser.data)


@pytest.fixture
def segment():
    return Segment.objects.create(name="全部", definition=EMPTY_DEFINITION)


def _post(segment, messages: list[dict[str, str]], **extra) -> dict:
    data = {
        "name": "週年慶",
        "segment": str(segment.pk),
        "channel_1": "line",
        "when": "now",
        "is_marketing": "on",
        "line_count": str(len(messages)),
    }
    for i, message in enumerate(messages):
        for key, value in message.items():
            data[f"line_{i}_{key}"] = value
    data.update(extra)
    return data


def _errors(page: str, field: str) -> str:
    return page.split(f'id="err-{field}"')[1].split("</div>\n</div>")[0]


def test_a_draft_with_flex_text_and_image_round_trips_unchanged(login_as, segment):
    campaign = campaign_save(
        name="週年慶", segment=segment, channels=["line"], contents={"line": {"messages": MESSAGES}}
    )
    client = login_as("bob")

    page = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'data-testid="preview-flex"' in page and "週年慶優惠" in page
    assert "全館 8 折" in page  # the Flex summary in the preview
    response = client.post(f"/campaigns/{campaign.pk}/edit/", form_values(page))

    assert response.status_code == 302, response.content.decode()[:3000]
    campaign.refresh_from_db()
    assert campaign.messages.get(channel="line").content == {"messages": MESSAGES}


def test_invalid_flex_json_shows_its_reason_and_keeps_the_input(login_as, segment):
    typed = '{"type": "bubble", "body": '
    data = _post(
        segment,
        [{"type": "text", "text": "嗨"}, {"type": "flex", "alt": "優惠", "contents": typed}],
    )
    client = login_as("bob")

    page = client.post("/campaigns/new/", data).content.decode()
    assert not Campaign.objects.exists()
    assert "Flex 內容不是有效的 JSON" in _errors(page, "line_1_contents")
    assert "{&quot;type&quot;: &quot;bubble&quot;, &quot;body&quot;: </textarea>" in page
    assert "嗨</textarea>" in page

    live = client.post("/campaigns/check/", data, **HTMX).content.decode()
    assert 'id="err-line_1_contents" class="field-errors" hx-swap-oob="true"' in live
    assert "Flex 內容不是有效的 JSON" in _errors(live, "line_1_contents")

    data["line_1_contents"] = '{"type": "bubble", "body": {"type": "box"}}'
    live = client.post("/campaigns/check/", data, **HTMX).content.decode()
    assert "Flex 內容不符合 LINE 的格式規範" in _errors(live, "line_1_contents")


def test_a_sixth_message_is_refused(login_as, segment):
    five = [{"type": "text", "text": f"第 {n} 則"} for n in range(1, 6)]
    client = login_as("bob")

    for url, headers in (("/campaigns/new/", {}), ("/campaigns/line/", HTMX)):
        page = client.post(url, _post(segment, five, line_action="add_flex"), **headers)
        page = page.content.decode()
        assert "LINE 一次最多傳送 5 則訊息：請先移除一則再新增。" in _errors(page, "line_count")
        assert page.count('data-testid="line-message"') == 5
        assert "第 5 則</textarea>" in page

    six = [*five, {"type": "text", "text": "第 6 則"}]
    page = client.post("/campaigns/new/", _post(segment, six)).content.decode()
    assert "LINE 一次最多傳送 5 則訊息。" in _errors(page, "line_count")
    assert "第 6 則</textarea>" in page
    assert not Campaign.objects.exists()


def test_messages_are_added_moved_and_removed_keeping_what_was_typed(login_as, segment):
    client = login_as("bob")
    data = _post(segment, [{"type": "text", "text": "第一則"}], line_action="add_flex")

    response = client.post("/campaigns/line/", data, **HTMX)
    page = response.content.decode()
    assert response["HX-Trigger-After-Settle"] == "campaign-check"
    assert page.lstrip().startswith('<div id="line-messages"')
    values = form_values(f'<form id="campaign-builder">{page}</form>')
    assert values["line_count"] == "2" and values["line_1_type"] == "flex"
    assert "第一則</textarea>" in page and 'name="line_1_contents"' in page
    assert 'name="line_1_alt" maxlength="1000" autofocus' in page  # the keyboard is there

    values.update(line_1_alt="優惠", line_1_contents="{}", line_action="up_1")
    page = client.post("/campaigns/line/", {**data, **values}, **HTMX).content.decode()
    moved = form_values(f'<form id="campaign-builder">{page}</form>')
    assert moved["line_0_type"] == "flex" and moved["line_0_alt"] == "優惠"
    assert moved["line_1_text"] == "第一則"

    page = client.post("/campaigns/new/", {**data, **moved, "line_action": "remove_0"})
    kept = form_values(page.content.decode())
    assert kept["line_count"] == "1" and kept["line_0_text"] == "第一則"
    assert kept["name"] == "週年慶"  # the rest of the form, as typed
    assert not Campaign.objects.exists()


def test_an_image_message_is_saved_with_both_addresses(login_as, segment):
    image = {"type": "image", "original": "https://cdn.example.com/b.jpg", "preview": "http://x"}
    client = login_as("bob")

    page = client.post("/campaigns/new/", _post(segment, [image])).content.decode()
    assert "https://" in _errors(page, "line_0_preview")
    image["preview"] = "https://cdn.example.com/b-small.jpg"
    assert client.post("/campaigns/new/", _post(segment, [image])).status_code == 302

    content = Campaign.objects.get().messages.get().content
    assert content == {
        "messages": [
            {
                "type": "image",
                "originalContentUrl": "https://cdn.example.com/b.jpg",
                "previewImageUrl": "https://cdn.example.com/b-small.jpg",
            }
        ]
    }


def test_each_line_error_goes_beside_its_field():
    assert error_field("content.line.messages.2.contents.body.contents.0.text") == (
        "line_2_contents"
    )
    assert error_field("content.line.messages.3.previewImageUrl") == "line_3_preview"
    assert error_field("content.line.messages.1.altText") == "line_1_alt"
    assert error_field("content.line.messages.0") == "line_0_type"
    assert error_field("content.line.messages") == "line_count"
    assert error_field("content.line.anything") == "line_count"
