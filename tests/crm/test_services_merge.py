"""Identity resolution, merges and their undo."""

import re

import pytest

from crm.hooks import MEMBER_HOOKS, MemberHook, register_member_hook
from crm.models import Consent, Identity, Member, MergeLog, Order, Tag
from crm.services import (
    Identifier,
    MemberProfile,
    MergeError,
    UndoBlocked,
    member_merge_by_hand,
    member_resolve,
    member_survivor,
    member_unmerge,
)
from crm.services.identity import ERROR_ALREADY_UNDONE
from crm.services.merges import MergePair, members_merge
from tests.factories import MemberFactory, OrderFactory

PHONE = Identifier("phone", "+886912345678")
EMAIL = Identifier("email", "mei@example.com")
LINE = Identifier("line_user_id", "U" + "a" * 32)
CARD = Identifier("pos_card", "A00012345")

pytestmark = pytest.mark.django_db


def test_unknown_identifiers_make_a_new_member():
    resolution = member_resolve(identifiers=[PHONE, EMAIL], source="web")

    assert resolution.created
    assert resolution.member.acquisition_channel == "web"
    assert set(resolution.member.identities.values_list("kind", flat=True)) == {"phone", "email"}


def test_a_known_identifier_attaches_new_ones_to_its_member():
    first = member_resolve(identifiers=[PHONE], source="store").member

    resolution = member_resolve(identifiers=[PHONE, LINE], source="line")

    assert resolution.member == first
    assert not resolution.created
    assert resolution.attached == [LINE]
    assert Member.objects.count() == 1


def test_identifiers_of_two_members_merge_them_into_the_oldest():
    older = member_resolve(identifiers=[PHONE], source="store").member
    newer = member_resolve(identifiers=[EMAIL], source="web").member
    OrderFactory(member=newer, channel="web")

    resolution = member_resolve(identifiers=[PHONE, EMAIL], source="members")

    assert resolution.member == older
    newer.refresh_from_db()
    assert newer.status == Member.Status.MERGED
    assert newer.merged_into == older
    assert Order.objects.get().member == older
    log = MergeLog.objects.get()
    assert (log.survivor, log.merged) == (older, newer)
    assert log.matched_keys == ["phone:+886912345678", "email:mei@example.com"]


def test_a_chain_of_shared_identifiers_is_one_person():
    member_resolve(identifiers=[PHONE], source="store")
    member_resolve(identifiers=[EMAIL], source="web")
    member_resolve(identifiers=[LINE], source="line")

    member_resolve(identifiers=[PHONE, EMAIL], source="web")
    member_resolve(identifiers=[EMAIL, LINE], source="line")

    assert Member.objects.filter(status="active").count() == 1
    assert Identity.objects.values("member").distinct().count() == 1


def test_a_merged_member_number_leads_to_the_survivor():
    older = member_resolve(identifiers=[PHONE], source="store", member_no="M1").member
    newer = member_resolve(identifiers=[EMAIL], source="web", member_no="M2").member
    member_resolve(identifiers=[PHONE, EMAIL], source="web")

    assert member_survivor(member_no=newer.member_no) == older


def test_member_number_matches_like_an_identifier():
    first = member_resolve(identifiers=[PHONE], source="members", member_no="M000123").member

    resolution = member_resolve(identifiers=[CARD], source="members", member_no="M000123")

    assert resolution.member == first


def test_merge_keeps_the_newest_consent_per_channel_and_the_history():
    older = member_resolve(identifiers=[PHONE], source="store").member
    newer = member_resolve(identifiers=[EMAIL], source="web").member
    Consent.objects.create(member=older, channel="sms", state="opted_in", at="2025-01-01T00:00Z")
    Consent.objects.create(member=newer, channel="sms", state="opted_out", at="2025-06-01T00:00Z")

    member_resolve(identifiers=[PHONE, EMAIL], source="web")

    consents = Consent.objects.filter(member=older).order_by("-at")
    assert [c.state for c in consents] == ["opted_out", "opted_in"]


def test_merge_fills_blank_profile_fields_and_undo_clears_them():
    older = member_resolve(identifiers=[PHONE], source="store").member
    member_resolve(
        identifiers=[EMAIL], source="web", profile=MemberProfile(name="陳美玲", gender="female")
    )
    member_resolve(identifiers=[PHONE, EMAIL], source="web")
    older.refresh_from_db()
    assert (older.name, older.gender) == ("陳美玲", "female")

    member_unmerge(merge_log=MergeLog.objects.get())

    older.refresh_from_db()
    assert (older.name, older.gender) == ("", "")


def test_undo_gives_back_exactly_what_the_merged_member_brought():
    older = member_resolve(identifiers=[PHONE], source="store").member
    newer = member_resolve(identifiers=[EMAIL], source="web").member
    vip, shared = Tag.objects.create(name="VIP"), Tag.objects.create(name="shared")
    vip.members.add(newer)
    shared.members.add(older, newer)
    order = OrderFactory(member=newer, channel="web")
    member_resolve(identifiers=[PHONE, EMAIL], source="web")

    restored = member_unmerge(merge_log=MergeLog.objects.get())

    assert restored == newer
    newer.refresh_from_db()
    assert (newer.status, newer.merged_into) == ("active", None)
    assert list(newer.identities.values_list("value", flat=True)) == [EMAIL.value]
    assert list(older.identities.values_list("value", flat=True)) == [PHONE.value]
    order.refresh_from_db()
    assert order.member == newer
    assert set(newer.tags.values_list("name", flat=True)) == {"VIP", "shared"}
    assert set(older.tags.values_list("name", flat=True)) == {"shared"}
    assert MergeLog.objects.get().undone_at is not None


def test_undo_twice_is_refused():
    member_resolve(identifiers=[PHONE], source="store")
    member_resolve(identifiers=[EMAIL], source="web")
    member_resolve(identifiers=[PHONE, EMAIL], source="web")
    log = MergeLog.objects.get()
    member_unmerge(merge_log=log)

    with pytest.raises(MergeError, match=re.escape(str(ERROR_ALREADY_UNDONE))):
        member_unmerge(merge_log=log)


def test_undo_names_the_later_merge_that_depends_on_it():
    member_resolve(identifiers=[PHONE], source="store")
    member_resolve(identifiers=[EMAIL], source="web")
    member_resolve(identifiers=[LINE], source="line")
    member_resolve(identifiers=[PHONE, EMAIL], source="web")  # first merge brings EMAIL
    member_resolve(identifiers=[EMAIL, LINE], source="line")  # matched through EMAIL
    first, second = MergeLog.objects.order_by("pk")

    with pytest.raises(UndoBlocked) as blocked:
        member_unmerge(merge_log=first)

    assert blocked.value.blocking == second
    assert f"#{second.pk}" in str(blocked.value)
    member_unmerge(merge_log=second)
    member_unmerge(merge_log=first)
    assert Member.objects.filter(status="active").count() == 3


def test_merge_by_hand_needs_a_reason_and_keeps_the_older():
    older = member_resolve(identifiers=[PHONE], source="store").member
    newer = member_resolve(identifiers=[EMAIL], source="web").member

    with pytest.raises(MergeError):
        member_merge_by_hand(first=newer, second=older, reason=" ", actor=None)
    log = member_merge_by_hand(
        first=newer, second=older, reason="same person, asked at till", actor=None
    )

    assert (log.survivor, log.merged, log.matched_keys) == (older, newer, ["manual"])


def test_merging_a_member_into_itself_is_refused():
    member = member_resolve(identifiers=[PHONE], source="store").member

    with pytest.raises(MergeError):
        member_merge_by_hand(first=member, second=member, reason="oops", actor=None)


def test_other_apps_move_their_rows_through_the_merge_hook():
    calls = []

    def on_merge(pairs):
        calls.append(("merge", list(pairs)))
        return {merged: {"n": 1} for _, merged in pairs}

    with MEMBER_HOOKS.scoped():
        register_member_hook(
            MemberHook(
                name="test-hook",
                on_merge=on_merge,
                on_unmerge=lambda survivor, merged, snap: calls.append(("unmerge", snap)),
            )
        )
        older = member_resolve(identifiers=[PHONE], source="store").member
        newer = member_resolve(identifiers=[EMAIL], source="web").member
        member_resolve(identifiers=[PHONE, EMAIL], source="web")
        member_unmerge(merge_log=MergeLog.objects.get())

    assert calls == [("merge", [(older.pk, newer.pk)]), ("unmerge", {"n": 1})]


def test_a_batch_of_merges_calls_each_member_hook_once():
    calls = []
    survivors = [MemberFactory() for _ in range(3)]
    merged = [MemberFactory() for _ in range(3)]
    pairs = [MergePair(s.pk, m.pk, ("manual",)) for s, m in zip(survivors, merged, strict=True)]

    with MEMBER_HOOKS.scoped():
        register_member_hook(
            MemberHook(
                name="test-hook",
                on_merge=lambda pairs: calls.append(list(pairs)) or {},
                on_unmerge=lambda survivor, merged, snap: None,
            )
        )
        members_merge(pairs=pairs, source="import:members")

    assert calls == [[(p.survivor_id, p.merged_id) for p in pairs]]


def test_an_erased_members_number_does_not_bring_it_back(alice):
    from crm.services import member_forget

    erased = member_resolve(identifiers=[PHONE], member_no="M000001", source="store").member
    member_forget(member=erased, reason="PDPA request 1", actor=alice)

    resolution = member_resolve(identifiers=[EMAIL], member_no="M000001", source="store")

    assert resolution.created and resolution.member != erased
    assert resolution.member.member_no.startswith("OC")
    assert not Identity.objects.filter(member=erased).exists()


def test_a_member_first_met_on_line_has_no_acquisition_channel():
    resolution = member_resolve(identifiers=[LINE], source="line")

    assert resolution.member.acquisition_channel == ""


def test_a_single_record_resolves_through_the_batch_engine(monkeypatch):
    from crm.services import resolution, resolution_batch

    batches = []

    def spy(**kwargs):
        batches.append(len(kwargs["records"]))
        return resolution_batch.members_resolve_batch(**kwargs)

    monkeypatch.setattr(resolution, "members_resolve_batch", spy)
    older = member_resolve(identifiers=[PHONE], source="store").member
    member_resolve(identifiers=[EMAIL], source="web")

    merged = member_resolve(identifiers=[PHONE, EMAIL], source="web")

    assert batches == [1, 1, 1]
    assert merged.member == older and not merged.created
    assert [log.survivor_id for log in merged.merges] == [older.pk]
    assert merged.attached == []
