"""The one Registry type of every extension point refuses a duplicate name."""

import pytest

from crm.hooks import MEMBER_HOOKS, MemberHook, register_member_hook
from crm.profile_cards import PROFILE_CARDS, ProfileCard, register_profile_card
from crm.segments import register_segment_rule, segment_rules
from crm.segments.registry import SEGMENT_RULES
from crm.timeline import TIMELINE_SOURCES, TimelineSource, register_timeline_source
from omnichannel.registry import AlreadyRegistered, Registry


def test_a_duplicate_name_is_refused_with_both_named():
    cards = Registry("profile card", key=lambda card: card.name)
    cards.register(ProfileCard("points", "loyalty/points.html", lambda member: {}))

    with pytest.raises(AlreadyRegistered, match="profile card 'points' is already registered"):
        cards.register(ProfileCard("points", "other/points.html", lambda member: {}))

    assert [card.template for card in cards] == ["loyalty/points.html"]


def test_every_crm_registry_refuses_a_taken_name():
    crm_rule = segment_rules()[0]
    with (
        SEGMENT_RULES.scoped(),
        TIMELINE_SOURCES.scoped(),
        PROFILE_CARDS.scoped(),
        MEMBER_HOOKS.scoped(),
    ):
        with pytest.raises(AlreadyRegistered):
            register_segment_rule(crm_rule)
        crm_source = TIMELINE_SOURCES.all()[0]
        with pytest.raises(AlreadyRegistered):
            register_timeline_source(TimelineSource(kind=crm_source.kind, fetch=crm_source.fetch))
        register_profile_card(ProfileCard("tier", "loyalty/tier.html", lambda member: None))
        with pytest.raises(AlreadyRegistered):
            register_profile_card(ProfileCard("tier", "x.html", lambda member: None))
        hook = MemberHook("example", on_merge=lambda pairs: {}, on_unmerge=lambda *a: None)
        register_member_hook(hook)
        with pytest.raises(AlreadyRegistered):
            register_member_hook(hook)

    assert "tier" not in PROFILE_CARDS and "example" not in MEMBER_HOOKS
