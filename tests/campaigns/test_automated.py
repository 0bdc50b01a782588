"""Automated messages: a template per trigger that the marketer edits in the builder and that
is never launched, and a run campaign per period sent through the ordinary pipeline once."""

import pytest
from django.urls import reverse

from campaigns.audience_sources import AUDIENCE_SOURCES, AudienceSource, register_audience_source
from campaigns.models import Campaign, Delivery, Message
from campaigns.services import (
    CampaignStateError,
    automated_message_ensure,
    automated_message_send,
    campaign_launch,
    campaign_snapshot,
    send_batch_run,
)
from campaigns.services.campaigns import ERROR_AUTOMATED_TEMPLATE
from crm.models import Member
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

CHOSEN = "tests.chosen"
if AUDIENCE_SOURCES.get(CHOSEN) is None:
    register_audience_source(
        AudienceSource(
            name=CHOSEN,
            label="chosen by the test",
            member_ids=lambda params: Member.objects.filter(pk__in=params["ids"]).values("pk"),
        )
    )

EMAIL = {"subject": "生日快樂", "text": "{{name}} 生日快樂"}
SMS = {"text": "生日快樂"}


def _template(**kwargs) -> Campaign:
    return automated_message_ensure(
        trigger=CHOSEN,
        name="生日祝福",
        channels=kwargs.pop("channels", ("email", "sms")),
        contents={"email": EMAIL, "sms": SMS},
        **kwargs,
    )


def _reachable(n: int) -> list[Member]:
    members = MemberFactory.create_batch(n)
    for m in members:
        IdentityFactory(member=m, email=True)
        ConsentFactory(member=m, channel="email")
    return members


def _send(run: Campaign) -> None:
    campaign_snapshot(campaign_id=run.pk)
    for batch in run.batches.all():
        send_batch_run(batch_id=batch.pk)


def test_ensure_makes_the_template_once_and_keeps_the_marketers_edits():
    template = _template()
    assert template.trigger == CHOSEN
    assert template.status == Campaign.Status.DRAFT
    assert set(template.messages.values_list("channel", flat=True)) == {"email", "sms"}
    Message.objects.filter(campaign=template, channel="sms").update(content={"text": "改過"})
    again = _template(channels=("line",))
    assert again.pk == template.pk
    assert again.channels == ["email", "sms"]
    assert Message.objects.get(campaign=template, channel="sms").content == {"text": "改過"}


def test_the_template_is_never_launched():
    template = _template()
    with pytest.raises(CampaignStateError) as error:
        campaign_launch(campaign=template)
    assert str(error.value) == str(ERROR_AUTOMATED_TEMPLATE)
    template.refresh_from_db()
    assert template.status == Campaign.Status.DRAFT


def test_a_run_goes_once_per_member_and_period():
    template = _template()
    chosen = _reachable(3)
    params = {"ids": [m.pk for m in chosen[:2]]}

    run = automated_message_send(trigger=CHOSEN, period="2026-12-07", params=params)
    _send(run)

    assert run.template_id == template.pk
    assert run.segment_id is None
    assert run.audience_source == CHOSEN
    assert run.channels == template.channels
    assert run.messages.count() == 2
    sent = dict(Delivery.objects.filter(campaign=run).values_list("member_id", "status"))
    assert sent == {chosen[0].pk: "sent", chosen[1].pk: "sent"}

    # a second call for the same period (a rerun, another beat process) sends nothing twice;
    # members chosen since, for the same period, are taken in once the run has ended
    again = automated_message_send(
        trigger=CHOSEN, period="2026-12-07", params={"ids": [m.pk for m in chosen]}
    )
    assert again.pk == run.pk
    run.refresh_from_db()
    run.audience_params = {"ids": [m.pk for m in chosen]}
    run.save(update_fields=["audience_params"])
    again = automated_message_send(trigger=CHOSEN, period="2026-12-07", params={})
    assert again.status == Campaign.Status.LAUNCHING
    _send(again)
    sent = dict(Delivery.objects.filter(campaign=run).values_list("member_id", "status"))
    assert sent == {m.pk: "sent" for m in chosen}

    # another period is another run
    other = automated_message_send(trigger=CHOSEN, period="2026-12-08", params=params)
    assert other.pk != run.pk
    assert Campaign.objects.filter(template=template).count() == 2


def test_no_template_no_send():
    assert automated_message_send(trigger="tests.nobody", period="x", params={}) is None


def test_the_run_copies_the_templates_settings():
    template = _template()
    template.is_marketing = False
    template.quiet_hours = {"email": "22:00-08:00"}
    template.frequency_cap_messages, template.frequency_cap_days = 2, 7
    template.save()
    run = automated_message_send(trigger=CHOSEN, period="p", params={"ids": []})
    assert (run.is_marketing, run.quiet_hours) == (False, {"email": "22:00-08:00"})
    assert (run.frequency_cap_messages, run.frequency_cap_days) == (2, 7)


def test_the_builder_edits_a_template_without_a_segment(login_as):
    template = _template()
    client = login_as("bob")
    page = client.get(reverse("campaigns:edit", args=[template.pk]))
    assert page.status_code == 200
    assert 'data-testid="automated-message"' in page.content.decode()
    response = client.post(
        reverse("campaigns:edit", args=[template.pk]),
        {
            "name": "生日祝福（新版）",
            "segment": "",
            "channel_1": "sms",
            "channel_2": "email",
            "sms_text": "{{name}} 生日快樂！",
            "email_subject": "生日快樂",
            "email_text": "{{name}} 您好",
            "when": "now",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    template.refresh_from_db()
    assert template.name == "生日祝福（新版）"
    assert template.channels == ["sms", "email"]
    assert template.trigger == CHOSEN
    confirm = client.get(reverse("campaigns:confirm", args=[template.pk])).content.decode()
    assert 'data-testid="automated-message"' in confirm
    assert 'data-testid="campaign-launch"' not in confirm
    # and posting a launch is refused with the reason
    client.post(reverse("campaigns:confirm", args=[template.pk]))
    template.refresh_from_db()
    assert template.status == Campaign.Status.DRAFT


def test_the_list_shows_automated_messages_apart(login_as):
    from tests.campaigns.helpers import launched_to_everyone

    template = _template()
    ordinary = launched_to_everyone(channel="sms", content=SMS, name="週年慶")
    members = _reachable(2)
    run = automated_message_send(
        trigger=CHOSEN, period="2026-12-07", params={"ids": [m.pk for m in members]}
    )
    page = login_as("bob").get(reverse("campaigns:index")).content.decode()
    main = page.split('data-testid="automated-messages"')[0]
    section = page.split('data-testid="automated-messages"')[1]
    assert f"/campaigns/{ordinary.pk}/" in main
    assert f"/campaigns/{template.pk}/" not in main
    assert f"/campaigns/{run.pk}/" not in main
    assert f"/campaigns/{template.pk}/" in section
    assert f'href="/campaigns/{run.pk}/"' in section
    assert "2026-12-07" in section
    # the run's page works as any campaign's
    detail = login_as("bob").get(reverse("campaigns:detail", args=[run.pk]))
    assert detail.status_code == 200
    assert 'data-testid="run-template"' in detail.content.decode()


def test_the_template_cannot_be_cancelled(login_as):
    from campaigns.services import campaign_cancel

    template = _template()
    with pytest.raises(CampaignStateError):
        campaign_cancel(campaign=template)
    page = login_as("bob").get(reverse("campaigns:detail", args=[template.pk])).content.decode()
    assert 'data-testid="campaign-cancel"' not in page
    assert 'data-testid="campaign-review"' not in page
