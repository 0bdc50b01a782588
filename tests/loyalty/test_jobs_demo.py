"""The demo runs the birthday and unused-points jobs once for the demo day, so the Jobs tab
and the campaigns list show them; a second `make run` runs none again."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from campaigns.models import Campaign
from crm.demo import demo_seed
from loyalty.demo import demo_jobs_run
from loyalty.models import LoyaltyJobRun
from tests.campaigns.settings_helpers import use_sandbox
from tests.loyalty.tiers_defaults import tiers_default_ensure

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_runs_both_jobs_once(settings, tmp_path):
    use_sandbox(settings, tmp_path)
    tiers_default_ensure()
    demo_seed(members=300, seed=7)
    call_command("seed_demo_loyalty")
    jobs = dict(LoyaltyJobRun.objects.values_list("job", "status"))
    assert jobs == {
        "expiry": "done",
        "tiers": "done",
        "birthday": "done",
        "points_reminder": "done",
    }
    reminder = LoyaltyJobRun.objects.get(job="points_reminder")
    assert reminder.counts["due"] > 0
    assert set(Campaign.objects.exclude(trigger="").values_list("trigger", flat=True)) == {
        "loyalty.birthday",
        "loyalty.points_reminder",
    }

    call_command("seed_demo_loyalty")
    assert demo_jobs_run(now=datetime(2026, 12, 8, 9, tzinfo=ZoneInfo("Asia/Taipei"))) == []
    assert LoyaltyJobRun.objects.count() == 4
