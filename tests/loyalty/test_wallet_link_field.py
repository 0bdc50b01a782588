"""{{wallet_link}}: the member's add-to-wallet address in any channel's message (campaigns'
personalisation registry, registered by loyalty): each member's own link, one query a batch,
masked in previews for roles without crm.unmask_personal_data, offered by the builder."""

import pytest

from campaigns.content import content_validate
from campaigns.content.sms import sms_worst_case
from campaigns.personalise import personalisation_values
from campaigns.selectors import message_preview
from loyalty.wallet.links import wallet_link_member_no, wallet_link_token
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

SMS = {"text": "把會員卡加入手機：{{wallet_link}}"}


def test_each_member_gets_their_own_link_in_one_query(django_assert_num_queries, settings):
    settings.OMNICHANNEL_PUBLIC_URL = "https://crm.example.com.tw"
    members = [MemberFactory() for _ in range(3)]
    with django_assert_num_queries(1):
        values = personalisation_values(member_ids=[m.pk for m in members], names=["wallet_link"])
    for member in members:
        link = values[member.pk]["wallet_link"]
        prefix = "https://crm.example.com.tw/wallet/add/"
        assert link.startswith(prefix) and link.endswith("/")
        assert member.member_no not in link  # an opaque id: not the number a till accepts
        assert wallet_link_member_no(link.removeprefix(prefix).rstrip("/")) == member.member_no


def test_the_preview_masks_the_link_without_unmask_and_shows_a_sample_without_a_member():
    member = MemberFactory()
    shown = message_preview(channel="sms", content=SMS, member_id=member.pk, unmask=True)["text"]
    masked = message_preview(channel="sms", content=SMS, member_id=member.pk, unmask=False)["text"]
    sample = message_preview(channel="sms", content=SMS, member_id=None, unmask=False)["text"]
    token = wallet_link_token(member_id=member.pk).split(":")[0]
    assert f"/wallet/add/{token}:" in shown
    assert "/wallet/add/" not in masked
    assert masked.startswith("把會員卡加入手機：h*")
    assert "/wallet/add/sample:1xaWWg:sample/" in sample


def test_an_sms_counts_the_link_at_its_longest():
    worst = sms_worst_case("{{wallet_link}}")
    assert "/wallet/add/" in worst and len(worst) > 90
    assert len(worst) >= len(
        personalisation_values(
            member_ids=[MemberFactory(member_no="M" + "9" * 19).pk], names=["wallet_link"]
        ).popitem()[1]["wallet_link"]
    )


def test_a_push_may_lead_straight_to_the_link_but_not_show_it_as_its_image():
    push = {"title": "會員卡", "body": "加入手機錢包", "url": "{{wallet_link}}"}
    assert content_validate(channel="push", content=push) == []
    errors = content_validate(channel="push", content={**push, "url": "{{member_no}}"})
    assert [error.field for error in errors] == ["url"]
    errors = content_validate(channel="push", content={**push, "image": "{{wallet_link}}"})
    assert [error.field for error in errors] == ["image"]


def test_every_channel_accepts_the_field():
    for channel, content in (
        ("sms", SMS),
        ("email", {"subject": "會員卡", "html": '<a href="{{wallet_link}}">加入</a>'}),
        ("line", {"messages": [{"type": "text", "text": "{{wallet_link}}"}]}),
    ):
        assert not [
            error
            for error in content_validate(channel=channel, content=content)
            if "wallet_link" in error.message
        ]


def test_the_builder_offers_the_field(login_as):
    page = login_as("bob").get("/campaigns/new/").content.decode()
    assert 'data-insert-field="wallet_link"' in page
