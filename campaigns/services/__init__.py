"""campaigns' verbs (STYLE.md 1): every send of every app goes through these (DESIGN.md §1b)."""

from campaigns.services.audience import SplitEstimate, campaign_snapshot, campaign_split_estimate
from campaigns.services.automated import (
    automated_message_ensure,
    automated_message_send,
    automated_template,
)
from campaigns.services.campaigns import (
    CampaignInvalid,
    CampaignStateError,
    campaign_cancel,
    campaign_contents,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_save,
    campaign_split_validate,
    campaign_test_send,
    campaign_validate,
    campaign_variant_contents,
)
from campaigns.services.holdout_stores import holdout_stores_draw
from campaigns.services.sending import send_batch_run
from campaigns.services.sweep import batches_dispatch_due, campaigns_sweep
from campaigns.services.winner import campaign_winner_choose

__all__ = [
    "CampaignInvalid",
    "CampaignStateError",
    "SplitEstimate",
    "automated_message_ensure",
    "automated_message_send",
    "automated_template",
    "batches_dispatch_due",
    "campaign_cancel",
    "campaign_contents",
    "campaign_launch",
    "campaign_pause",
    "campaign_resume",
    "campaign_save",
    "campaign_snapshot",
    "campaign_split_estimate",
    "campaign_split_validate",
    "campaign_test_send",
    "campaign_validate",
    "campaign_variant_contents",
    "campaign_winner_choose",
    "campaigns_sweep",
    "holdout_stores_draw",
    "send_batch_run",
]
