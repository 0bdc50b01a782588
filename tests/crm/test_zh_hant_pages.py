"""The zh-Hant UI holds no English: imports, statuses, segment names, touchpoints, the admin."""

import pytest
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext

from crm.imports import messages, readers
from crm.models import ImportJob, Order, Touchpoint
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_the_imports_page_is_in_chinese(login_as):
    page = login_as("bob").get("/imports/").content.decode()

    assert "上傳並檢查" in page
    assert "門市 POS 訂單" in page  # the preset names
    assert "Upload and check" not in page
    assert "Store POS orders" not in page


def test_statuses_and_field_names_are_in_chinese():
    with translation.override("zh-hant"):
        assert ImportJob.Status.PREVIEWED.label == "已檢查：等待確認"
        assert str(Order._meta.get_field("created_at").verbose_name) == "建立時間"
        assert str(ImportJob._meta.verbose_name_plural) == "匯入"


def test_ready_made_segments_in_the_member_filter_are_in_chinese(login_as):
    page = login_as("bob").get("/members/").content.decode()

    assert "冠軍顧客</option>" in page
    assert "Champions</option>" not in page


def test_a_touchpoint_reads_in_chinese_on_the_profile_and_in_the_admin(login_as):
    member = MemberFactory(member_no="M0000001")
    Touchpoint.objects.create(member=member, channel="web", kind="page_view", at=timezone.now())

    profile = login_as("bob").get(f"/members/{member.member_no}/").content.decode()
    admin = login_as("alice").get("/admin/crm/touchpoint/").content.decode()

    assert "瀏覽頁面" in profile
    assert "Page view" not in profile
    assert "瀏覽頁面" in admin


def test_the_admin_shows_channels_and_third_party_apps_in_chinese(login_as):
    member = MemberFactory(member_no="M0000002")
    Touchpoint.objects.create(member=member, channel="web", kind="page_view", at=timezone.now())
    client = login_as("alice")

    touchpoints = client.get("/admin/crm/touchpoint/").content.decode()
    index = client.get("/admin/").content.decode()

    assert '<td class="field-channel_column">官網</td>' in touchpoints
    assert ">匯出<" in touchpoints  # django-import-export's button
    assert "排程工作" in index and "Periodic Tasks" not in index


@pytest.mark.parametrize("module", [messages, readers])
def test_every_row_reason_and_file_error_of_the_import_reads_in_chinese(module):
    reasons = {
        name: value
        for name, value in vars(module).items()
        if name.startswith(("ERROR_", "WARNING_", "PROBLEM_")) and isinstance(value, str | Promise)
    }
    assert reasons
    with translation.override("en"):
        msgids = {name: str(value) for name, value in reasons.items()}
    with translation.override("zh-hant"):
        shown = {name: gettext(str(value)) for name, value in reasons.items()}

    assert [name for name in reasons if shown[name] == msgids[name]] == []
