"""Ready-made segments: the RFM groups, OMO, online-only, offline-only and lapsed buyers.

Written after every migrate (crm.apps, like the roles and the beat schedule), keyed by
`Segment.ready_made`, so a deploy brings new or changed ones and a second run changes nothing.
Names are English msgids, shown translated (`Segment.display_name`).
"""

from dataclasses import dataclass

from django.utils.translation import gettext_noop

from crm.models import RfmGroup

# Lapsed: bought before, but not in the last 180 days. The RFM window is 365 days and the
# brand's buyers come back every 1-3 months, so 180 days is two missed cycles at least: long
# enough to be a real lapse, still inside the year where a win-back offer tends to work.
# Members who lapsed more than a year ago are in it too (they are "Lost" in RFM terms).
LAPSED_DAYS = 180


@dataclass(frozen=True)
class ReadyMade:
    key: str
    name: str
    description: str
    definition: dict


def _only(rule: str, operator: str, value) -> dict:
    return {"op": "and", "rules": [{"rule": rule, "operator": operator, "value": value}]}


_RFM_DESCRIPTIONS = {
    RfmGroup.CHAMPIONS: gettext_noop("Bought recently and often (R 4-5, F 4-5)."),
    RfmGroup.LOYAL: gettext_noop("Buy regularly (R 3 with F 3-5, or R 4-5 with F 3)."),
    RfmGroup.POTENTIAL: gettext_noop("Recent buyers with few orders yet (R 3-5, F 1-2)."),
    RfmGroup.NEW: gettext_noop("Bought for the first time recently (R 4-5, F 1)."),
    RfmGroup.AT_RISK: gettext_noop("Bought often, but not lately (R 1-2, F 3-5)."),
    RfmGroup.CANT_LOSE: gettext_noop("Among the most frequent, but gone quiet (R 1, F 4-5)."),
    RfmGroup.HIBERNATING: gettext_noop("Few orders, a while ago (R 2, F 1-2)."),
    RfmGroup.LOST: gettext_noop("Few orders, long ago (R 1, F 1-2)."),
}
# The group labels as msgids (RfmGroup's labels are lazy; the stored name stays English).
_RFM_NAMES = {
    RfmGroup.CHAMPIONS: gettext_noop("Champions"),
    RfmGroup.LOYAL: gettext_noop("Loyal"),
    RfmGroup.POTENTIAL: gettext_noop("Potential loyalists"),
    RfmGroup.NEW: gettext_noop("New customers"),
    RfmGroup.AT_RISK: gettext_noop("At risk"),
    RfmGroup.CANT_LOSE: gettext_noop("Can't lose them"),
    RfmGroup.HIBERNATING: gettext_noop("Hibernating"),
    RfmGroup.LOST: gettext_noop("Lost"),
}

READY_MADE: tuple[ReadyMade, ...] = (
    *(
        ReadyMade(
            key=f"rfm_{group.value}",
            name=_RFM_NAMES[group],
            description=_RFM_DESCRIPTIONS[group],
            definition=_only("rfm_group", "is", group.value),
        )
        for group in RfmGroup
    ),
    ReadyMade(
        key="omo",
        name=gettext_noop("OMO members"),
        description=gettext_noop("Bought both online and in store."),
        definition=_only("shopper_type", "is", "omo"),
    ),
    ReadyMade(
        key="online_only",
        name=gettext_noop("Online only"),
        description=gettext_noop("Bought online, never in store."),
        definition=_only("shopper_type", "is", "online_only"),
    ),
    ReadyMade(
        key="offline_only",
        name=gettext_noop("In store only"),
        description=gettext_noop("Bought in store, never online."),
        definition=_only("shopper_type", "is", "offline_only"),
    ),
    ReadyMade(
        key="lapsed",
        name=gettext_noop("Lapsed buyers"),
        description=gettext_noop("Bought before, but not in the last 180 days."),
        definition=_only("recency", "gte", LAPSED_DAYS),
    ),
)
