"""LINE's monthly quota: read from the API (cached), checked by the launch."""

import pytest

from campaigns.services import CampaignInvalid, campaign_launch, campaign_save
from campaigns.services.line_quota import (
    LineQuota,
    line_quota_check,
    line_quota_forget,
    line_quota_get,
)
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.campaigns.servers.line import CONSUMPTION, QUOTA
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory


def test_quota_is_read_from_both_endpoints_and_cached(line_server):
    line_server.state.quota_limit = 1000
    line_server.state.used = 400
    assert line_quota_get() == LineQuota(limit=1000, used=400)
    assert line_quota_get().remaining == 600
    paths = [r.path for r in line_server.state.requests]
    assert sorted(paths) == sorted([QUOTA, CONSUMPTION])
    assert line_server.state.requests[0].headers["authorization"] == "Bearer test-line-token"
    line_server.state.used = 999
    assert line_quota_get().used == 400  # cached for a minute
    line_quota_forget()
    assert line_quota_get().used == 999


def test_unlimited_quota(line_server):
    line_server.state.used = 12
    quota = line_quota_get()
    assert quota == LineQuota(limit=None, used=12) and quota.remaining is None
    assert line_quota_check(needed=10**9) is None


def test_no_quota_for_the_sandbox_or_when_line_does_not_answer(settings, line_server):
    line_server.state.token = "other"  # LINE answers 401
    assert line_quota_get() is None
    assert line_quota_check(needed=10) is None
    settings.CAMPAIGN_BACKENDS = {
        **settings.CAMPAIGN_BACKENDS,
        "line": "campaigns.backends.sandbox.SandboxLine",
    }
    assert line_quota_get() is None


def test_check_says_what_does_not_fit(line_server):
    line_server.state.quota_limit = 1000
    line_server.state.used = 990
    assert line_quota_check(needed=10) is None
    message = line_quota_check(needed=11)
    assert "11" in message and "10" in message


@pytest.mark.django_db
def test_a_launch_over_the_remaining_quota_is_refused(line_server):
    for _ in range(3):
        member = MemberFactory()
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
    campaign = campaign_save(
        name="LINE",
        segment=Segment.objects.create(name="All", definition=EMPTY_DEFINITION),
        channels=["line", "email"],
        contents={
            "line": {"messages": [{"type": "text", "text": "hi"}]},
            "email": {"subject": "hi", "text": "hi", "html": "<p>hi</p>"},
        },
    )
    line_server.state.quota_limit = 2
    with pytest.raises(CampaignInvalid) as refused:
        campaign_launch(campaign=campaign)
    assert list(refused.value.errors) == ["channels"]
    assert "3" in refused.value.errors["channels"][0]
    campaign.refresh_from_db()
    assert campaign.status == "draft"

    line_server.state.quota_limit = 3
    line_quota_forget()
    assert campaign_launch(campaign=campaign).status != "draft"


@pytest.mark.django_db
def test_a_launch_counts_its_line_audience_only_when_the_quota_is_limited(line_server, monkeypatch):
    def no_count(**kwargs):
        raise AssertionError("the audience was counted for an unlimited quota")

    monkeypatch.setattr("campaigns.services.campaigns.audience_estimate", no_count)
    line_server.state.quota_limit = None  # a plan without a monthly cap
    campaign = campaign_save(
        name="LINE",
        segment=Segment.objects.create(name="All", definition=EMPTY_DEFINITION),
        channels=["line"],
        contents={"line": {"messages": [{"type": "text", "text": "hi"}]}},
    )

    assert campaign_launch(campaign=campaign).status != "draft"
