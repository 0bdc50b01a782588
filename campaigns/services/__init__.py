"""campaigns' verbs (STYLE.md 1): every send of every app goes through these (DESIGN.md §1b)."""

from campaigns.services.audience import campaign_snapshot
from campaigns.services.campaigns import (
    CampaignInvalid,
    CampaignStateError,
    campaign_cancel,
    campaign_contents,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_save,
    campaign_test_send,
    campaign_validate,
)
from campaigns.services.sending import send_batch_run
from campaigns.services.sweep import batches_dispatch_due, campaigns_sweep

__all__ = [
    "CampaignInvalid",
    "CampaignStateError",
    "batches_dispatch_due",
    "campaign_cancel",
    "campaign_contents",
    "campaign_launch",
    "campaign_pause",
    "campaign_resume",
    "campaign_save",
    "campaign_snapshot",
    "campaign_test_send",
    "campaign_validate",
    "campaigns_sweep",
    "send_batch_run",
]
