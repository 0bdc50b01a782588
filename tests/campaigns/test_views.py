"""The campaign pages: list, builder (htmx checks and previews), confirm, launch, the campaign
page with its progress and deliveries, and who may do what. An analyst never sees a member's
name, phone or email on any of them."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from campaigns.models import Campaign, Delivery
from campaigns.services import campaign_launch, campaign_save
from crm.models import Identity, Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

LINE = {"messages": [{"type": "text", "text": "{{name}}，週年慶開跑！"}]}
EMAIL = {"subject": "週年慶", "text": "{{name}} 您好", "html": "<p>Hi {{name}}</p>"}
SMS = {"text": "週年慶開跑 https://shop.example.com/a"}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def launch(eager_celery, django_capture_on_commit_callbacks):
    """Launch a campaign and run its whole pipeline here (snapshot, sends) before returning."""

    def _launch(campaign: Campaign) -> Campaign:
        with django_capture_on_commit_callbacks(execute=True):
            campaign_launch(campaign=campaign)
        campaign.refresh_from_db()
        return campaign

    return _launch


@pytest.fixture
def segment():
    return Segment.objects.create(name="所有會員", definition=EMPTY_DEFINITION)


@pytest.fixture
def members():
    """Three members: one on LINE, one on email, one with an opted-out email (no channel)."""
    line = MemberFactory(name="林美玲")
    IdentityFactory(member=line, line=True)
    ConsentFactory(member=line, channel="line")
    email = MemberFactory(name="陳志明")
    IdentityFactory(member=email, email=True)
    ConsentFactory(member=email, channel="email")
    IdentityFactory(member=email)  # a phone, never shown to an analyst
    out = MemberFactory(name="王大同")
    IdentityFactory(member=out, email=True)
    ConsentFactory(member=out, channel="email", opted_out=True)
    return [line, email, out]


def _draft(segment, name="週年慶", channels=("line", "email"), **fields) -> Campaign:
    contents = {"line": LINE, "email": EMAIL, "sms": SMS}
    return campaign_save(
        name=name,
        segment=segment,
        channels=list(channels),
        contents={c: contents[c] for c in channels},
        **fields,
    )


def _personal_data(members) -> list[str]:
    values = [m.name for m in members]
    values += list(Identity.objects.filter(member__in=members).values_list("value", flat=True))
    return values


def _builder_post(segment, **overrides) -> dict:
    data = {
        "name": "雙 12",
        "segment": str(segment.pk),
        "channel_1": "line",
        "channel_2": "email",
        "line_count": "1",
        "line_0_type": "text",
        "line_0_text": "{{name}} 您好！",
        "email_subject": "雙 12",
        "email_text": "{{name}} 您好",
        "when": "now",
        "is_marketing": "on",
    }
    data.update(overrides)
    return data


# --- Permissions -----------------------------------------------------------------------------


def test_analyst_sees_the_list_and_the_campaign_but_changes_nothing(login_as, segment, members):
    campaign = _draft(segment)
    client = login_as("carol")

    assert client.get("/campaigns/").status_code == 200
    assert client.get(f"/campaigns/{campaign.pk}/").status_code == 200
    confirm = client.get(f"/campaigns/{campaign.pk}/confirm/")
    assert confirm.status_code == 200
    assert 'data-testid="campaign-launch"' not in confirm.content.decode()
    assert 'data-testid="launch-not-allowed"' in confirm.content.decode()
    for method, url in [
        ("get", "/campaigns/new/"),
        ("get", f"/campaigns/{campaign.pk}/edit/"),
        ("post", "/campaigns/new/"),
        ("post", "/campaigns/check/"),
        ("post", "/campaigns/audience/"),
        ("post", f"/campaigns/{campaign.pk}/confirm/"),
        ("post", f"/campaigns/{campaign.pk}/test/"),
        ("post", f"/campaigns/{campaign.pk}/pause/"),
        ("post", f"/campaigns/{campaign.pk}/resume/"),
        ("post", f"/campaigns/{campaign.pk}/cancel/"),
    ]:
        assert getattr(client, method)(url).status_code == 403, url
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_marketer_role_may_launch_and_analyst_may_not(bob, carol):
    assert bob.has_perm("campaigns.launch_campaign")
    assert not carol.has_perm("campaigns.launch_campaign")
    assert carol.has_perm("campaigns.view_campaign")


def test_navigation_links_the_campaign_pages(login_as):
    page = login_as("carol").get("/").content.decode()

    assert 'href="/campaigns/"' in page
    assert 'data-testid="nav-campaigns"' in page


# --- The list --------------------------------------------------------------------------------


def test_list_shows_status_channels_audience_and_progress(login_as, segment, members, launch):
    sent = _draft(segment, name="已寄出的活動")
    launch(sent)
    _draft(segment, name="草稿活動", channels=("sms",))

    page = login_as("bob").get("/campaigns/").content.decode()

    assert "已寄出的活動" in page and "草稿活動" in page
    assert 'data-status="done"' in page and 'data-status="draft"' in page
    # LINE and email sent, the opted-out member suppressed: 3 of 3 done.
    assert "2 已寄出 · 0 失敗 · 1 已抑制，共 3" in page
    assert "尚未寄送" in page  # the draft


def test_list_filters_by_status(login_as, segment):
    _draft(segment, name="草稿 A")
    scheduled = _draft(segment, name="排程 B")
    Campaign.objects.filter(pk=scheduled.pk).update(status=Campaign.Status.SCHEDULED)
    client = login_as("bob")

    page = client.get("/campaigns/?status=scheduled").content.decode()
    assert "排程 B" in page and "草稿 A" not in page

    partial = client.get("/campaigns/?status=draft", **HTMX).content.decode()
    assert partial.lstrip().startswith('<section id="campaign-table"')
    assert "草稿 A" in partial and "排程 B" not in partial


def test_list_pages_through_campaigns(login_as, segment):
    for n in range(27):
        _draft(segment, name=f"活動{n:02d}")
    client = login_as("bob")

    first = client.get("/campaigns/").content.decode()
    second = client.get("/campaigns/?page=2").content.decode()

    assert first.count('data-testid="campaign-row"') == 25
    assert second.count('data-testid="campaign-row"') == 2
    assert "活動26" in first and "活動00" in second  # newest first


def test_list_queries_do_not_grow_with_campaigns(
    login_as, segment, members, launch, django_assert_max_num_queries
):
    client = login_as("bob")
    launch(_draft(segment, name="一"))
    client.get("/campaigns/")
    with django_assert_max_num_queries(12) as few:
        client.get("/campaigns/")
    for n in range(5):
        launch(_draft(segment, name=f"多{n}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/campaigns/")


# --- The builder -----------------------------------------------------------------------------


def test_builder_saves_a_draft_and_goes_to_the_confirm_step(login_as, segment, bob):
    response = login_as("bob").post("/campaigns/new/", _builder_post(segment))

    campaign = Campaign.objects.get(name="雙 12")
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.pk}/confirm/"
    assert campaign.channels == ["line", "email"]
    assert campaign.segment == segment
    assert campaign.created_by == bob
    contents = {m.channel: m.content for m in campaign.messages.all()}
    assert contents["line"] == {"messages": [{"type": "text", "text": "{{name}} 您好！"}]}
    assert contents["email"] == {"subject": "雙 12", "text": "{{name}} 您好"}


def test_a_validation_error_keeps_everything_typed(login_as, segment):
    data = _builder_post(
        segment,
        name="",
        channel_2="sms",
        sms_text="限時優惠 http://shop.example.com/x {{nickname}}",
        when="later",
        send_at="",
    )
    response = login_as("bob").post("/campaigns/new/", data)
    page = response.content.decode()

    assert response.status_code == 200
    assert not Campaign.objects.exists()
    name_errors = page.split('id="err-name"')[1].split("</div>\n</div>")[0]
    assert "請為活動命名。" in name_errors
    sms_errors = page.split('id="err-sms_text"')[1].split("</div>\n</div>")[0]
    assert "連結必須以 https:// 開頭" in sms_errors
    assert "個人化欄位 {{nickname}} 不存在。" in sms_errors
    assert "限時優惠 http://shop.example.com/x {{nickname}}" in page  # kept as typed
    assert "{{name}} 您好！" in page
    assert f'<option value="{segment.pk}" selected>' in page
    assert 'value="later" id="id_when_1" checked' in page
    assert "請選擇寄送日期與時間，或選擇立即寄送。" in page


def test_edit_loads_the_draft_and_saves_changes(login_as, segment):
    campaign = _draft(segment, channels=("sms",))
    client = login_as("bob")

    page = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert SMS["text"] in page
    assert 'data-testid="audience-count" data-count="0"' in page  # its segment, counted live
    assert 'data-testid="preview-sms"' in page
    response = client.post(
        f"/campaigns/{campaign.pk}/edit/",
        _builder_post(segment, name="改名", channel_1="sms", channel_2="", sms_text="新內容"),
    )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "改名"
    assert campaign.messages.get().content == {"text": "新內容"}


def test_a_launched_campaign_cannot_be_edited(login_as, segment, members, launch):
    campaign = launch(_draft(segment))

    response = login_as("bob").get(f"/campaigns/{campaign.pk}/edit/")

    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.pk}/"


def test_check_shows_content_errors_beside_fields_as_the_marketer_types(login_as, segment):
    data = _builder_post(segment, line_0_text="看這裡 http://x.example.com {{nope}}")
    response = login_as("bob").post("/campaigns/check/", data, **HTMX)
    page = response.content.decode()

    assert response.status_code == 200
    assert page.lstrip().startswith('<section id="campaign-live"')
    assert 'id="err-line_0_text" class="field-errors" hx-swap-oob="true"' in page
    errors = page.split('id="err-line_0_text"')[1].split("</div>\n</div>")[0]
    assert "https://" in errors and "{{nope}}" in errors
    assert 'id="err-email_subject"' in page  # emptied where fixed


def test_check_previews_the_message_for_the_chosen_member(login_as, segment, members):
    data = _builder_post(segment, preview_member=str(members[0].pk))
    page = login_as("bob").post("/campaigns/check/", data, **HTMX).content.decode()

    assert "林美玲 您好！" in page


def test_preview_masks_the_name_for_a_user_without_unmask(client, segment, members):
    # A custom role that builds campaigns but may not see personal data.
    user = UserFactory()
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_campaign", "add_campaign", "view_segment", "view_member"]
        )
    )
    client.force_login(user)
    data = _builder_post(segment, preview_member=str(members[0].pk))

    pages = [
        client.post("/campaigns/check/", data, **HTMX).content.decode(),
        client.post("/campaigns/audience/", data, **HTMX).content.decode(),
        client.get("/campaigns/new/").content.decode(),
    ]

    for page in pages:
        assert "林美玲" not in page
    assert "林** 您好！" in pages[0]


def test_audience_gives_the_live_count_and_members_to_preview(login_as, segment, members):
    response = login_as("bob").post("/campaigns/audience/", {"segment": segment.pk}, **HTMX)
    page = response.content.decode()

    assert response["HX-Trigger-After-Settle"] == "campaign-check"
    assert 'data-count="3"' in page
    assert page.count('<option value="') == 3


def test_sms_counter_and_cost_show_as_the_marketer_types(login_as, segment, settings):
    settings.SMS_SEGMENT_PRICE_CENTS = 90
    data = _builder_post(
        segment, channel_1="sms", channel_2="", sms_text="週年慶" * 30, audience_count="1000"
    )

    page = login_as("bob").post("/campaigns/check/", data, **HTMX).content.decode()

    assert "90 個字元（UCS-2）：2 則" in page  # Chinese is UCS-2: 67 a part past 70
    assert "NT$1,800" in page  # 2 segments × 1,000 members × NT$0.90


# --- Confirm, test send, launch --------------------------------------------------------------


def test_confirm_shows_the_audience_by_channel_and_suppression_reason(login_as, segment, members):
    campaign = _draft(segment)

    page = login_as("bob").get(f"/campaigns/{campaign.pk}/confirm/").content.decode()

    assert 'data-testid="estimate-total">3<' in page
    line = page.split('data-channel="line"')[1].split("</tr>")[0]
    assert '<td class="num">1</td>' in line
    assert 'data-reason="unsubscribed"' in page
    assert "LINE" in page and "未知" in page  # the sandbox has no quota to tell


def test_confirm_shows_the_line_quota_and_a_launch_that_exceeds_it(
    login_as, segment, members, line_server
):
    line_server.state.quota_limit = 500
    line_server.state.used = 500  # this month's messages are spent
    campaign = _draft(segment)

    page = login_as("bob").get(f"/campaigns/{campaign.pk}/confirm/").content.decode()

    assert "0 / 500" in page
    assert 'data-testid="line-quota-problem"' in page


def test_test_send_goes_to_the_marketers_address(login_as, segment, settings, tmp_path):
    campaign = _draft(segment)

    response = login_as("bob").post(
        f"/campaigns/{campaign.pk}/test/",
        {"channel": "email", "address": "bob@example.com"},
        **HTMX,
    )

    page = response.content.decode()
    assert 'data-testid="test-result"' in page and "bob@example.com" in page
    sandbox = "".join(p.read_text() for p in tmp_path.rglob("email-*.jsonl"))
    assert "王小明 您好" in sandbox  # the sandbox got it, with sample values
    assert not Delivery.objects.exists()


def test_test_send_without_an_address_says_so(login_as, segment):
    campaign = _draft(segment)

    page = (
        login_as("bob")
        .post(f"/campaigns/{campaign.pk}/test/", {"channel": "line", "address": ""}, **HTMX)
        .content.decode()
    )

    assert "測試未寄出：請填寫測試發送的收件地址。" in page


def test_launch_sends_and_the_page_shows_the_result(
    login_as, segment, members, eager_celery, django_capture_on_commit_callbacks
):
    campaign = _draft(segment)
    client = login_as("bob")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/campaigns/{campaign.pk}/confirm/")

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    page = client.get(response["Location"]).content.decode()
    assert 'data-status="done"' in page
    assert 'data-reason="unsubscribed"' in page


def test_launch_of_an_invalid_campaign_says_why(login_as, segment, members):
    campaign = _draft(segment)
    campaign.messages.filter(channel="email").update(content={"subject": "", "text": ""})

    response = login_as("bob").post(f"/campaigns/{campaign.pk}/confirm/")

    assert response.status_code == 400
    assert 'data-testid="launch-errors"' in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_a_campaign_with_a_send_time_is_scheduled(login_as, segment):
    from datetime import timedelta

    from django.utils import timezone

    campaign = _draft(segment, send_at=timezone.now() + timedelta(days=1))

    login_as("bob").post(f"/campaigns/{campaign.pk}/confirm/")

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED


def test_builder_schedules_in_taipei_time(login_as, segment):
    data = _builder_post(segment, when="later", send_at="2099-03-12T10:00")

    login_as("bob").post("/campaigns/new/", data)

    campaign = Campaign.objects.get()
    assert campaign.send_at.isoformat() == "2099-03-12T02:00:00+00:00"


# --- Pause, resume, cancel -------------------------------------------------------------------


def test_pause_resume_and_cancel(login_as, segment, members):
    campaign = _draft(segment)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    client = login_as("bob")

    client.post(f"/campaigns/{campaign.pk}/pause/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert (
        'data-testid="campaign-resume"' in client.get(f"/campaigns/{campaign.pk}/").content.decode()
    )

    client.post(f"/campaigns/{campaign.pk}/resume/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING

    response = client.post(f"/campaigns/{campaign.pk}/cancel/", **HTMX)
    assert response["HX-Redirect"] == f"/campaigns/{campaign.pk}/"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED


def test_pausing_a_finished_campaign_says_it_cannot(login_as, segment, members, launch):
    campaign = launch(_draft(segment))
    client = login_as("bob")

    response = client.post(f"/campaigns/{campaign.pk}/pause/", follow=True)

    assert "只有發送中的活動可以暫停。" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE


# --- The campaign page -----------------------------------------------------------------------


def test_progress_polls_while_sending_and_reloads_when_the_status_changes(login_as, segment):
    campaign = _draft(segment)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    client = login_as("bob")

    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'hx-trigger="every 3s"' in page
    polled = client.get(f"/campaigns/{campaign.pk}/progress/?seen=sending", **HTMX)
    assert polled.content.decode().lstrip().startswith('<section id="campaign-progress"')
    assert "HX-Refresh" not in polled

    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.DONE)
    polled = client.get(f"/campaigns/{campaign.pk}/progress/?seen=sending", **HTMX)
    assert polled["HX-Refresh"] == "true"
    assert "every 3s" not in polled.content.decode()


def test_deliveries_filter_by_status_reason_and_channel(login_as, segment, members, launch):
    campaign = launch(_draft(segment))
    client = login_as("bob")

    suppressed = client.get(
        f"/campaigns/{campaign.pk}/?status=suppressed&reason=unsubscribed", **HTMX
    ).content.decode()
    line = client.get(f"/campaigns/{campaign.pk}/?channel=line", **HTMX).content.decode()

    assert suppressed.count('data-testid="delivery-row"') == 1
    assert members[2].member_no in suppressed
    assert line.count('data-testid="delivery-row"') == 1
    assert members[0].member_no in line
    assert f'href="/members/{members[0].member_no}/"' in line


def test_deliveries_page_by_keyset(login_as, segment, members, launch, monkeypatch):
    monkeypatch.setattr("campaigns.views.DELIVERY_PAGE_SIZE", 2)
    campaign = launch(_draft(segment))
    client = login_as("bob")

    first = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert first.count('data-testid="delivery-row"') == 2
    after = first.split("after=")[1].split('"')[0].split("&")[0]
    more = client.get(f"/campaigns/{campaign.pk}/?after={after}", **HTMX).content.decode()
    assert more.count('data-testid="delivery-row"') == 1
    assert 'data-testid="load-more-row"' not in more


def test_analyst_never_sees_personal_data_on_any_campaign_page(login_as, segment, members, launch):
    sent = launch(_draft(segment, name="已寄出"))
    draft = _draft(segment, name="草稿")
    client = login_as("carol")
    pages = [
        client.get("/campaigns/"),
        client.get(f"/campaigns/{sent.pk}/"),
        client.get(f"/campaigns/{sent.pk}/?status=suppressed", **HTMX),
        client.get(f"/campaigns/{draft.pk}/"),
        client.get(f"/campaigns/{draft.pk}/?preview_member={members[0].pk}"),
        client.get(f"/campaigns/{draft.pk}/confirm/"),
    ]

    raw = _personal_data(members)
    for response in pages:
        assert response.status_code == 200
        page = response.content.decode()
        for value in raw:
            assert value not in page, value
    assert members[0].member_no in pages[1].content.decode()
    assert "林** 您好" in pages[4].content.decode()  # the preview, masked


def test_marketer_sees_names_in_the_delivery_list(login_as, segment, members, launch):
    campaign = launch(_draft(segment))

    page = login_as("bob").get(f"/campaigns/{campaign.pk}/").content.decode()

    assert "林美玲" in page


def test_campaign_page_queries_do_not_grow_with_deliveries(
    login_as, segment, members, launch, django_assert_max_num_queries
):
    campaign = launch(_draft(segment))
    client = login_as("carol")
    client.get(f"/campaigns/{campaign.pk}/")
    with django_assert_max_num_queries(15) as few:
        client.get(f"/campaigns/{campaign.pk}/")
    more = MemberFactory.create_batch(5)
    for member in more:
        IdentityFactory(member=member, email=True)
        ConsentFactory(member=member, channel="email")
    bigger = launch(_draft(segment, name="更多"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(f"/campaigns/{bigger.pk}/")


# --- The 360° timeline -----------------------------------------------------------------------


def test_timeline_entry_links_to_the_campaign(login_as, segment, members, launch):
    campaign = launch(_draft(segment))

    page = login_as("bob").get(f"/members/{members[0].member_no}/").content.decode()

    link = (
        f'<a href="{reverse("campaigns:detail", args=[campaign.pk])}" data-testid="timeline-link">'
    )
    assert link in page
