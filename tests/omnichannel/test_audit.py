"""Issue 9: the audit trail. Every sensitive verb writes one event inside its own transaction
(who, what, when, from where, with or without personal data, no personal data in the summary);
/audit/ shows them to admins only, filtered and keyset-paged; the admin shows them read-only."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from crm.models import Member
from crm.services import member_forget, member_merge_by_hand, member_unmerge
from crm.services.api_keys import api_key_create, api_key_revoke
from crm.services.consent import consent_record
from omnichannel.audit import AuditFilters, audit_events_page, audit_record
from omnichannel.models import AuditEvent
from tests.factories import IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


def _person(name: str, phone: str) -> Member:
    member = MemberFactory(name=name)
    IdentityFactory(member=member, raw=phone)
    return member


def _only(action: str) -> AuditEvent:
    (event,) = AuditEvent.objects.filter(action=action)
    return event


def test_a_merge_and_its_undo_are_recorded_without_personal_data(bob):
    first, second = _person("王小明", "0912-345-678"), _person("王曉明", "0987-654-321")

    log = member_merge_by_hand(first=first, second=second, reason="客服 0912345678", actor=bob)
    member_unmerge(merge_log=log, actor=bob)

    merge, undo = _only(Action.MERGE), _only(Action.UNMERGE)
    assert (merge.actor, undo.actor) == (bob, bob)
    assert second.member_no in merge.summary_text and first.member_no in merge.summary_text
    for event in (merge, undo):
        stored = f"{event.summary} {event.summary_params}"
        assert "王" not in stored and "912" not in stored.replace(first.member_no, "").replace(
            second.member_no, ""
        )
        assert not event.with_personal_data


def test_an_erasure_is_recorded(bob):
    member = _person("王小明", "0912-345-678")

    member_forget(member=member, actor=bob, reason="request #12")

    event = _only(Action.ERASE)
    assert (event.actor, event.object_id) == (bob, member.member_no)
    # The free-text reason stays in the ErasureLog.
    assert "request" not in f"{event.summary} {event.summary_params} {event.summary_text}"


def test_a_consent_change_by_hand_is_recorded_with_the_client_address(login_as, bob):
    member = MemberFactory()

    login_as("bob").post(
        reverse("crm:member_consent_record", args=[member.member_no]),
        {"channel": "sms", "state": "opted_in", "confirm": "on"},
        REMOTE_ADDR="203.0.113.7",
    )

    event = _only(Action.CONSENT)
    assert event.actor.username == "bob"
    assert event.ip == "203.0.113.7"
    with translation.override("en"):
        assert event.summary_text == f"{member.member_no} opted in on SMS (source By hand)"
    with translation.override("zh-hant"):
        assert event.summary_text == f"{member.member_no} 同意接收簡訊（來源 手動）"


def test_api_keys_created_and_revoked_are_recorded(alice):
    api_key, key = api_key_create(name="POS", channel="store", actor=alice)

    api_key_revoke(api_key=api_key, actor=alice)
    api_key_revoke(api_key=api_key, actor=alice)  # a second revoke changes nothing

    assert _only(Action.API_KEY_CREATE).actor == alice
    assert _only(Action.API_KEY_REVOKE).object_id == str(api_key.pk)
    created = _only(Action.API_KEY_CREATE)
    assert key not in f"{created.summary} {created.summary_params} {created.summary_text}"


@pytest.mark.parametrize(("persona", "unmasked"), [("bob", True), ("carol", False)])
def test_a_member_export_is_recorded_with_or_without_personal_data(login_as, persona, unmasked):
    MemberFactory()

    login_as(persona).post("/members/export/", {"file_format": "csv"})

    event = _only(Action.EXPORT)
    assert event.actor.username == persona
    assert event.with_personal_data is unmasked
    assert "CSV" in event.summary_text


def test_an_admin_export_streamed_at_once_is_recorded(login_as):
    MemberFactory()

    from crm.resources import MemberResource
    from tests.crm.test_admin_export import export_form

    response = login_as("alice").post("/admin/crm/member/export/", export_form(MemberResource))

    assert response.status_code == 200, response.content[:500]
    event = _only(Action.EXPORT)
    assert event.with_personal_data and event.object_type == "crm.member"


def test_an_event_rolls_back_with_its_action(bob):
    from django.db import transaction

    member = MemberFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        consent_record(member=member, channel="sms", opted_in=True, actor=bob)
        raise RuntimeError

    assert not AuditEvent.objects.exists()


# --- The page -------------------------------------------------------------------------------


def test_only_admins_open_the_audit_page(login_as):
    assert login_as("alice").get("/audit/").status_code == 200
    assert login_as("bob").get("/audit/").status_code == 403
    assert login_as("carol").get("/audit/").status_code == 403


def test_the_page_lists_filters_and_is_in_chinese(login_as, alice, bob):
    audit_record(action=Action.MERGE, actor=bob, summary="M1 → M2")
    audit_record(action=Action.EXPORT, actor=alice, summary="x", with_personal_data=True)

    client = login_as("alice")
    all_rows = client.get("/audit/").content.decode()
    merges = client.get("/audit/", {"action": "merge"}).content.decode()
    by_alice = client.get("/audit/", {"actor": alice.pk}).content.decode()

    assert all_rows.count('data-testid="audit-row"') == 2
    assert "稽核紀錄" in all_rows and "含個人資料" in all_rows
    assert merges.count('data-testid="audit-row"') == 1 and 'data-action="merge"' in merges
    assert by_alice.count('data-testid="audit-row"') == 1 and 'data-action="export"' in by_alice


def test_summaries_are_shown_in_the_readers_language(login_as, alice):
    audit_record(
        action=Action.EXPORT,
        actor=alice,
        summary="%(model)s: %(rows)s rows as %(format)s, masked",
        summary_params={"model": "crm.member", "rows": 12, "format": "CSV"},
    )

    html = login_as("alice").get("/audit/").content.decode()

    assert "會員：12 列，CSV，已遮蔽" in html


def test_a_summary_whose_values_do_not_fit_is_shown_as_stored(alice):
    event = audit_record(
        action=Action.MERGE, actor=alice, summary="%(gone)s merged", summary_params={"x": 1}
    )

    assert event.summary_text == "%(gone)s merged"


def test_the_page_filters_by_date(login_as, alice):
    old = audit_record(action=Action.MERGE, actor=alice)
    AuditEvent.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=10))
    audit_record(action=Action.MERGE, actor=alice)
    since = (timezone.localdate() - timedelta(days=2)).isoformat()

    html = login_as("alice").get("/audit/", {"since": since}).content.decode()

    assert html.count('data-testid="audit-row"') == 1


def test_the_page_is_keyset_paged_and_its_cursor_signed(alice):
    for _ in range(5):
        audit_record(action=Action.MERGE, actor=alice)

    first = audit_events_page(filters=AuditFilters(), size=2)
    second = audit_events_page(filters=AuditFilters(), after=first.next_cursor, size=2)
    third = audit_events_page(filters=AuditFilters(), after=second.next_cursor, size=2)

    seen = [e.pk for page in (first, second, third) for e in page.events]
    assert seen == sorted(AuditEvent.objects.values_list("pk", flat=True), reverse=True)
    assert third.next_cursor is None
    with pytest.raises(ValueError):
        audit_events_page(filters=AuditFilters(), after=first.next_cursor + "x")


def test_the_admin_shows_events_read_only(login_as, alice):
    event = audit_record(action=Action.MERGE, actor=alice, summary="M1 → M2")
    client = login_as("alice")

    assert client.get("/admin/omnichannel/auditevent/").status_code == 200
    change = client.get(f"/admin/omnichannel/auditevent/{event.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert client.get("/admin/omnichannel/auditevent/add/").status_code == 403


def test_roles_do_not_give_the_audit_trail_to_marketers_or_analysts(bob, carol):
    assert not bob.has_perm("omnichannel.read_audit")
    assert not carol.has_perm("omnichannel.read_audit")


def test_source_codes_in_summaries_read_as_labels(alice):
    event = audit_record(
        action=Action.CONSENT,
        summary="%(count)s consent decision(s) from %(source)s",
        summary_params={"count": 3, "source": "import:members"},
    )

    with translation.override("zh-hant"):
        assert event.summary_text == "3 筆同意決定（來源：匯入：會員名單）"
    with translation.override("en"):
        assert event.summary_text == "3 consent decision(s) from Import: Member list"
