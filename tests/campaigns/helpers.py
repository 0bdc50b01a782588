"""Helpers shared by campaigns' tests."""

from campaigns.models import Campaign
from campaigns.services import campaign_launch, campaign_save, campaign_snapshot
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION


def launched_to_everyone(*, channel: str, content: dict, name: str = "週年慶") -> Campaign:
    """A campaign on one channel to every member (a new segment with no conditions), saved,
    launched and snapshotted: its batches are in the outbox, ready to send."""
    campaign = campaign_save(
        name=name,
        segment=Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION),
        channels=[channel],
        contents={channel: content},
    )
    campaign = campaign_launch(campaign=campaign)
    campaign_snapshot(campaign_id=campaign.pk)
    return campaign
