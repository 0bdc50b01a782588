"""The profile's services: contact edits re-resolved, tags, notes, consent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Consent, Identity, Member, MergeLog
from crm.services.consent import ConsentError, consent_record
from crm.services.profiles import (
    ERROR_NOTE_EMPTY,
    ERROR_TAG_TOO_LONG,
    ContactInput,
    ContactInvalid,
    IdentifierTaken,
    ProfileError,
    member_contact_update,
    member_note_add,
    member_tag_add,
)
from tests.factories import IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db


def test_an_edit_that_merges_into_an_older_member_lands_on_it():
    older = MemberFactory()
    IdentityFactory(member=older, raw="0912-345-678")
    member = MemberFactory()
    IdentityFactory(member=member, email=True, raw="mine@example.com")

    saved = member_contact_update(
        member=member,
        contact=ContactInput(
            name="新名字",
            identifiers={"phone": "0912345678", "email": "mine@example.com"},
        ),
        actor=None,
        merge_with=older,
        merge_reason="same phone",
    )

    assert saved == older
    assert Member.objects.get(pk=member.pk).merged_into == older
    older.refresh_from_db()
    assert older.name == "新名字"
    assert set(older.identities.values_list("value", flat=True)) == {
        "+886912345678",
        "mine@example.com",
    }


def test_merge_with_someone_else_than_the_owner_still_asks():
    owner, stranger, member = MemberFactory(), MemberFactory(), MemberFactory()
    IdentityFactory(member=owner, raw="0912-345-678")

    with pytest.raises(IdentifierTaken) as exc:
        member_contact_update(
            member=member,
            contact=ContactInput(identifiers={"phone": "0912345678"}),
            actor=None,
            merge_with=stranger,
            merge_reason="why not",
        )

    assert exc.value.owner == owner and exc.value.kind == "phone"
    assert not MergeLog.objects.exists()


def test_a_blank_identifier_removes_the_shown_one_and_others_stay():
    member = MemberFactory()
    IdentityFactory(member=member, email=True, raw="a@example.com")
    card = IdentityFactory(member=member, card=True)

    member_contact_update(member=member, contact=ContactInput(identifiers={}), actor=None)

    assert list(member.identities.all()) == [card]


def test_typing_a_phone_the_member_already_has_is_no_conflict():
    member = MemberFactory()
    newest = IdentityFactory(member=member, raw="0912-000-111")
    older = IdentityFactory(
        member=member, raw="0912-000-222", last_seen_at=timezone.now() - timedelta(days=9)
    )

    member_contact_update(
        member=member, contact=ContactInput(identifiers={"phone": "0912000222"}), actor=None
    )

    assert list(member.identities.values_list("pk", flat=True)) == [older.pk]
    assert not Identity.objects.filter(pk=newest.pk).exists()


def test_invalid_values_are_reported_by_field_and_nothing_changes():
    member = MemberFactory(name="舊")

    with pytest.raises(ContactInvalid) as exc:
        member_contact_update(
            member=member,
            contact=ContactInput(
                name="新",
                birthday=timezone.localdate() + timedelta(days=2),
                identifiers={"phone": "123", "email": "not-an-email", "line_user_id": "Uabc"},
            ),
            actor=None,
        )

    assert set(exc.value.errors) == {"birthday", "phone", "email", "line_user_id"}
    member.refresh_from_db()
    assert member.name == "舊"


def test_tags_and_notes_check_their_input():
    member = MemberFactory()
    with pytest.raises(ProfileError, match=str(ERROR_TAG_TOO_LONG)):
        member_tag_add(member=member, name="x" * 51)
    with pytest.raises(ProfileError, match=str(ERROR_NOTE_EMPTY)):
        member_note_add(member=member, body=" \n ", actor=None)
    assert member_tag_add(member=member, name="VIP") == member_tag_add(member=member, name="VIP")


def test_consent_record_writes_proof_even_when_unchanged():
    member = MemberFactory()
    consent_record(member=member, channel="email", opted_in=True)
    consent_record(member=member, channel="email", opted_in=True)

    assert Consent.objects.filter(member=member, source="manual").count() == 2
    with pytest.raises(ConsentError):
        consent_record(member=member, channel="store", opted_in=True)
