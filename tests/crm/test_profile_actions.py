"""The profile's actions, each per persona: alice (Admin) and bob (Marketer) act, carol
(Analyst) reads only."""

import pytest
from django.urls import reverse

from crm.models import Consent, ErasureLog, Identity, Member, MemberNote, MergeLog, Tag
from crm.services import member_forget, member_merge_by_hand, member_unmerge
from tests.factories import IdentityFactory, MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def url(member: Member, name: str, *args) -> str:
    return reverse(f"crm:{name}", args=[member.member_no, *args])


def contact(**overrides) -> dict:
    data = {
        "name": "陳美玲",
        "birthday": "1990-05-17",
        "gender": "female",
        "home_store": "",
        "phone": "",
        "email": "",
        "line_user_id": "",
    }
    return {**data, **overrides}


# --- Who may do what -------------------------------------------------------------------------

ACTIONS = [
    ("member_edit", lambda m: contact()),
    ("member_consent_record", lambda m: {"channel": "sms", "state": "opted_in", "confirm": "on"}),
    ("member_note_add", lambda m: {"body": "prefers store pickup"}),
    ("member_tag_add", lambda m: {"name": "VIP"}),
    (
        "member_merge",
        lambda m: {"other": MemberFactory().member_no, "reason": "x", "confirm": "on"},
    ),
    ("member_forget", lambda m: {"reason": "request #7", "confirm": "on"}),
]


@pytest.mark.parametrize(("name", "data"), ACTIONS)
def test_the_analyst_may_not_act(login_as, name, data):
    member = MemberFactory()

    response = login_as("carol").post(url(member, name), data(member))

    assert response.status_code == 403
    assert not MemberNote.objects.exists() and not Tag.objects.exists()
    assert not Consent.objects.exists() and not MergeLog.objects.exists()
    assert not ErasureLog.objects.exists()


@pytest.mark.parametrize("persona", ["alice", "bob"])
@pytest.mark.parametrize(("name", "data"), ACTIONS)
def test_admins_and_marketers_act(login_as, persona, name, data):
    member = MemberFactory()

    response = login_as(persona).post(url(member, name), data(member))

    assert response.status_code == 302
    assert (
        MemberNote.objects.exists()
        or Tag.objects.filter(members=member).exists()
        or Consent.objects.filter(member=member, source="manual").exists()
        or MergeLog.objects.exists()
        or ErasureLog.objects.exists()
        or Member.objects.get(pk=member.pk).name == "陳美玲"
    )


def test_the_analyst_may_not_undo_a_merge(login_as):
    first, second = MemberFactory(), MemberFactory()
    log = member_merge_by_hand(first=first, second=second, reason="same", actor=None)

    response = login_as("carol").post(url(first, "member_unmerge", log.pk))

    assert response.status_code == 403
    assert MergeLog.objects.get().undone_at is None


def test_the_analyst_may_not_even_open_the_forget_page(login_as):
    assert login_as("carol").get(url(MemberFactory(), "member_forget")).status_code == 403


# --- Contact data ------------------------------------------------------------------------------


def test_edit_saves_profile_fields_and_replaces_the_phone(login_as):
    member = MemberFactory()
    old = IdentityFactory(member=member, raw="0912-000-111")
    store = StoreFactory()

    response = login_as("bob").post(
        url(member, "member_edit"),
        contact(phone="+886 912 345 678", home_store=store.pk, email="Mei@Example.com"),
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.name, str(member.birthday), member.home_store) == ("陳美玲", "1990-05-17", store)
    phones = list(member.identities.filter(kind="phone").values_list("value", "source"))
    assert phones == [("+886912345678", "manual")]
    assert not Identity.objects.filter(pk=old.pk).exists()
    assert member.identities.filter(kind="email", value="mei@example.com").exists()


def test_edit_saves_the_lunar_birthday_calendar_and_the_profile_says_so(login_as):
    member = MemberFactory()

    response = login_as("bob").post(url(member, "member_edit"), contact(birthday_calendar="lunar"))

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.birthday_calendar == "lunar"
    page = login_as("bob").get(url(member, "member_detail")).content.decode()
    assert 'data-testid="birthday-lunar"' in page
    edit = login_as("bob").get(url(member, "member_edit")).content.decode()
    assert '<option value="lunar" selected>' in edit


def test_an_invalid_phone_keeps_everything_typed(login_as):
    member = MemberFactory(name="舊名")

    response = login_as("bob").post(
        url(member, "member_edit"), contact(name="新名字", phone="12345", email="mei@example.com")
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert (
        'value="新名字"' in html and 'value="12345"' in html and 'value="mei@example.com"' in html
    )
    assert "is-invalid" in html
    member.refresh_from_db()
    assert member.name == "舊名" and not member.identities.exists()


def test_a_phone_of_another_member_offers_a_merge_naming_that_member(login_as):
    member = MemberFactory()
    other = MemberFactory(name="林大同")
    IdentityFactory(member=other, raw="0912-345-678")

    response = login_as("bob").post(
        url(member, "member_edit"), contact(phone="0912 345 678"), headers=HTMX
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="merge-offer"' in html and other.member_no in html
    assert "<html" not in html  # htmx swaps the form only
    assert 'value="0912 345 678"' in html and 'value="陳美玲"' in html
    assert not MergeLog.objects.exists()
    assert Identity.objects.get(value="+886912345678").member == other


def test_accepting_the_offer_merges_and_saves(login_as):
    member = MemberFactory()
    other = MemberFactory()
    IdentityFactory(member=other, raw="0912-345-678")
    client = login_as("bob")

    # Without a reason the offer comes back, with what was typed.
    again = client.post(
        url(member, "member_edit"), contact(phone="0912345678", merge_with=other.member_no)
    )
    assert 'data-testid="merge-offer"' in again.content.decode()
    assert not MergeLog.objects.exists()

    done = client.post(
        url(member, "member_edit"),
        contact(phone="0912345678", merge_with=other.member_no, merge_reason="same phone, called"),
        headers=HTMX,
    )

    assert done.status_code == 200 and done["HX-Redirect"] == url(member, "member_detail")
    log = MergeLog.objects.get()
    assert (log.survivor, log.merged, log.reason) == (member, other, "same phone, called")
    member.refresh_from_db()
    assert member.name == "陳美玲"
    assert Identity.objects.get(value="+886912345678").member == member


# --- Consent, notes, tags ----------------------------------------------------------------------


def test_recording_consent_needs_a_confirmation(login_as):
    member = MemberFactory()
    client = login_as("bob")

    refused = client.post(
        url(member, "member_consent_record"),
        {"channel": "line", "state": "opted_out"},
        headers=HTMX,
    )
    assert 'data-testid="consents"' in refused.content.decode() and not Consent.objects.exists()

    client.post(
        url(member, "member_consent_record"),
        {"channel": "line", "state": "opted_out", "confirm": "on"},
        headers=HTMX,
    )
    consent = Consent.objects.get()
    assert (consent.channel, consent.state, consent.source) == ("line", "opted_out", "manual")


def test_a_note_lands_on_the_timeline(login_as):
    member = MemberFactory()

    response = login_as("bob").post(
        url(member, "member_note_add"), {"body": "VIP 客人"}, headers=HTMX
    )

    html = response.content.decode()
    assert 'data-kind="note"' in html and "VIP 客人" in html and "<html" not in html
    assert MemberNote.objects.get().author.username == "bob"


def test_an_empty_note_is_refused(login_as):
    member = MemberFactory()

    response = login_as("bob").post(url(member, "member_note_add"), {"body": "   "}, headers=HTMX)

    assert "is-invalid" in response.content.decode() and not MemberNote.objects.exists()


def test_tags_are_added_and_removed(login_as):
    member = MemberFactory()
    client = login_as("bob")

    added = client.post(url(member, "member_tag_add"), {"name": " 生日  禮 "}, headers=HTMX)
    tag = Tag.objects.get()
    assert tag.name == "生日 禮" and 'data-testid="tag-name">生日 禮<' in added.content.decode()

    removed = client.post(url(member, "member_tag_remove", tag.pk), headers=HTMX)
    assert 'data-testid="no-tags"' in removed.content.decode()
    assert not tag.members.exists() and Tag.objects.exists()


# --- Merges and erasure ------------------------------------------------------------------------


def test_merge_by_hand_finds_by_identifier_and_needs_a_reason(login_as):
    member = MemberFactory()
    other = MemberFactory()
    IdentityFactory(member=other, email=True, raw="twin@example.com")
    client = login_as("bob")

    found = client.get(url(member, "member_merge"), {"q": "TWIN@example.com"}).content.decode()
    assert other.member_no in found and f'value="{member.member_no}"' not in found

    refused = client.post(url(member, "member_merge"), {"other": other.member_no, "confirm": "on"})
    assert refused.status_code == 200 and not MergeLog.objects.exists()

    client.post(
        url(member, "member_merge"),
        {"other": other.member_no, "reason": "twins? no", "confirm": "on"},
    )
    assert MergeLog.objects.get().merged == other


def test_undo_a_merge(login_as):
    first, second = MemberFactory(), MemberFactory()
    log = member_merge_by_hand(first=first, second=second, reason="same", actor=None)

    response = login_as("bob").post(url(first, "member_unmerge", log.pk))

    assert response.status_code == 302
    second.refresh_from_db()
    assert second.status == Member.Status.ACTIVE
    assert MergeLog.objects.get().undone_by.username == "bob"


def test_a_blocked_undo_says_which_merge_to_undo_first_with_a_link(login_as):
    a, b, c = MemberFactory(), MemberFactory(), MemberFactory()
    first = member_merge_by_hand(first=b, second=c, reason="1", actor=None)
    later = member_merge_by_hand(first=a, second=b, reason="2", actor=None)
    client = login_as("bob")

    response = client.post(url(b, "member_unmerge", first.pk), follow=True)

    html = response.content.decode()
    assert f"#{later.pk}" in html
    assert f'href="{url(a, "member_detail")}#merge-{later.pk}"' in html
    assert MergeLog.objects.get(pk=first.pk).undone_at is None


def test_forget_needs_a_reason_and_a_confirmation(login_as):
    member = MemberFactory(name="王小明")
    client = login_as("bob")

    refused = client.post(url(member, "member_forget"), {"reason": "", "confirm": "on"})
    assert refused.status_code == 200 and not ErasureLog.objects.exists()
    unconfirmed = client.post(url(member, "member_forget"), {"reason": "request #7"})
    assert 'value="request #7"' in unconfirmed.content.decode() and not ErasureLog.objects.exists()

    client.post(url(member, "member_forget"), {"reason": "request #7", "confirm": "on"})

    member.refresh_from_db()
    assert member.status == Member.Status.ERASED and member.name == ""
    assert ErasureLog.objects.get().actor.username == "bob"


def test_notes_move_with_a_merge_back_with_its_undo_and_go_with_erasure(alice):
    first, second = MemberFactory(), MemberFactory()
    note = MemberNote.objects.create(member=second, body="call after 6pm")

    log = member_merge_by_hand(first=first, second=second, reason="same", actor=None)
    note.refresh_from_db()
    assert note.member == first

    member_unmerge(merge_log=log)
    note.refresh_from_db()
    assert note.member == second

    member_forget(member=second, actor=alice, reason="request")
    assert not MemberNote.objects.exists()
