"""The campaigns admin: the outbox is read-only, lists stay bounded, members are masked for a
viewer without crm.unmask_personal_data, and the actions go through the services."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from campaigns.models import (
    Campaign,
    Delivery,
    SendBatch,
    Suppression,
    WebhookEvent,
    WebPushSubscription,
)
from campaigns.services import campaign_launch, campaign_save
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

MODELS = ("campaign", "delivery", "sendbatch", "suppression", "webhookevent", "webpushsubscription")


@pytest.fixture
def outbox(eager_celery, django_capture_on_commit_callbacks):
    """A sent campaign with one delivery of each end, a suppression, a webhook, a subscription."""
    sent = MemberFactory(name="林美玲")
    IdentityFactory(member=sent, email=True)
    ConsentFactory(member=sent, channel="email")
    none = MemberFactory(name="陳志明")
    segment = Segment.objects.create(name="所有會員", definition=EMPTY_DEFINITION)
    campaign = campaign_save(
        name="週年慶",
        segment=segment,
        channels=["email"],
        contents={"email": {"subject": "週年慶", "text": "{{name}} 您好"}},
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign)
    Delivery.objects.filter(member=none).update(error="refused 0912345678")
    Suppression.objects.create(member=none, channel="line", reason="line_blocked")
    WebhookEvent.objects.create(provider="line", event_id="01HXYZ")
    WebPushSubscription.objects.create(
        member=sent, endpoint="https://push.example.com/send/abcdef123456", p256dh="k", auth="a"
    )
    return {"campaign": campaign, "members": [sent, none]}


def _staff(*, unmask: bool) -> Client:
    """A staff user who may view every campaigns table (and unmask, when asked)."""
    user = UserFactory(is_staff=True)
    codenames = [f"view_{model}" for model in MODELS] + ["view_message"]
    if unmask:
        codenames.append("unmask_personal_data")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_outbox_tables_are_read_only_for_an_admin(alice, outbox):
    client = Client()
    client.force_login(alice)
    delivery = Delivery.objects.first()
    batch = SendBatch.objects.first()

    for url in ("/admin/campaigns/delivery/add/", "/admin/campaigns/sendbatch/add/"):
        assert client.get(url).status_code == 403
    for url in (
        f"/admin/campaigns/delivery/{delivery.pk}/delete/",
        f"/admin/campaigns/sendbatch/{batch.pk}/delete/",
    ):
        assert client.get(url).status_code == 403
    page = client.get(f"/admin/campaigns/delivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()  # shown, not a field
    response = client.post(
        f"/admin/campaigns/delivery/{delivery.pk}/change/", {"status": "pending"}
    )
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status != Delivery.Status.PENDING


def test_a_launched_campaign_cannot_be_deleted_or_its_status_changed(alice, outbox):
    client = Client()
    client.force_login(alice)
    campaign = outbox["campaign"]

    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/delete/").status_code == 403
    client.post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        {
            "name": "新名字",
            "status": "draft",
            "messages-TOTAL_FORMS": "0",
            "messages-INITIAL_FORMS": "0",
        },
    )
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert client.get("/admin/campaigns/campaign/add/").status_code == 403


def test_a_draft_can_be_deleted(alice):
    segment = Segment.objects.create(name="所有會員", definition=EMPTY_DEFINITION)
    draft = campaign_save(
        name="草稿", segment=segment, channels=["sms"], contents={"sms": {"text": "嗨"}}
    )
    client = Client()
    client.force_login(alice)

    client.post(f"/admin/campaigns/campaign/{draft.pk}/delete/", {"post": "yes"})

    assert not Campaign.objects.exists()


def test_cancel_action_goes_through_the_service(alice):
    segment = Segment.objects.create(name="所有會員", definition=EMPTY_DEFINITION)
    draft = campaign_save(
        name="排程", segment=segment, channels=["sms"], contents={"sms": {"text": "嗨"}}
    )
    Campaign.objects.filter(pk=draft.pk).update(status=Campaign.Status.SENDING)
    client = Client()
    client.force_login(alice)

    client.post(
        "/admin/campaigns/campaign/",
        {"action": "cancel_campaigns", "_selected_action": [draft.pk]},
    )

    draft.refresh_from_db()
    assert draft.status == Campaign.Status.CANCELLED


def test_lift_action_lifts_through_the_service(alice, outbox):
    client = Client()
    client.force_login(alice)
    suppression = Suppression.objects.get()

    client.post(
        "/admin/campaigns/suppression/",
        {"action": "lift_suppressions", "_selected_action": [suppression.pk]},
    )

    suppression.refresh_from_db()
    assert suppression.lifted_at is not None
    assert suppression.lifted_at <= timezone.now()


@pytest.mark.parametrize("model", MODELS)
def test_lists_and_rows_mask_members_without_unmask(outbox, model):
    client = _staff(unmask=False)
    rows = {
        "campaign": Campaign,
        "delivery": Delivery,
        "sendbatch": SendBatch,
        "suppression": Suppression,
        "webhookevent": WebhookEvent,
        "webpushsubscription": WebPushSubscription,
    }[model].objects.all()

    pages = [client.get(f"/admin/campaigns/{model}/")]
    pages += [client.get(f"/admin/campaigns/{model}/{row.pk}/change/") for row in rows]

    for response in pages:
        assert response.status_code == 200
        page = response.content.decode()
        for raw in ("林美玲", "陳志明", "0912345678", "abcdef123456"):
            assert raw not in page, (model, raw)


def test_rows_show_members_in_full_with_unmask(outbox):
    client = _staff(unmask=True)
    delivery = Delivery.objects.get(member=outbox["members"][1])

    page = client.get(f"/admin/campaigns/delivery/{delivery.pk}/change/").content.decode()

    assert "陳志明" in page and "0912345678" in page


def test_delivery_search_by_member_number(alice, outbox):
    client = Client()
    client.force_login(alice)
    member = outbox["members"][0]

    page = client.get(f"/admin/campaigns/delivery/?q={member.member_no}").content.decode()

    assert page.count(member.member_no) >= 1
    assert outbox["members"][1].member_no not in page


@pytest.mark.parametrize("model", MODELS)
def test_list_pages_are_bounded(alice, outbox, model, django_assert_max_num_queries):
    client = Client()
    client.force_login(alice)
    client.get(f"/admin/campaigns/{model}/")

    with django_assert_max_num_queries(8):
        response = client.get(f"/admin/campaigns/{model}/")

    assert response.status_code == 200
