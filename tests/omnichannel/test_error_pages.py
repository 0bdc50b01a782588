"""403, 404 and 500 are pages in the product's layout and language (DEBUG is off in tests)."""

import pytest
from django.conf import settings
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from omnichannel import urls, views

pytestmark = pytest.mark.django_db


def test_debug_is_off_so_the_handlers_show():
    assert not settings.DEBUG


def test_a_typed_url_the_role_may_not_open_says_which_roles_may(login_as):
    response = login_as("carol").get("/imports/")  # the Analyst may not import

    page = response.content.decode()
    assert response.status_code == 403
    assert 'data-testid="error-403"' in page
    assert 'data-testid="sidebar"' in page  # in the product's layout, with its navigation
    assert "您的角色無法開啟此頁面" in page
    assert "可開啟此頁面的角色：管理員、行銷人員。" in page
    assert "您目前的角色是分析師。" in page
    assert "<code>crm.import_data</code>" in page
    assert "Forbidden" not in page


def test_the_403_page_follows_the_users_language(login_as):
    client = login_as("carol")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get("/imports/").content.decode()

    assert "Your role cannot open this page" in page
    assert "It is open to: Admin、Marketer." in page


def test_an_unknown_address_is_a_404_page_that_says_what_to_do(login_as):
    response = login_as("bob").get("/members/NO-SUCH-MEMBER/")

    page = response.content.decode()
    assert response.status_code == 404
    assert 'data-testid="error-404"' in page
    assert 'data-testid="sidebar"' in page
    assert "這個網址沒有內容" in page
    assert "<code>/members/NO-SUCH-MEMBER/</code>" in page


def test_an_unresolved_path_is_the_same_404_page(login_as):
    response = login_as("bob").get("/no-such-page/")

    assert response.status_code == 404
    assert "這個網址沒有內容" in response.content.decode()


def test_the_500_page_renders_without_the_database_or_a_user():
    request = RequestFactory().get("/members/")  # no user, no session: the middleware failed

    with translation.override("zh-hant"), CaptureQueriesContext(connection) as queries:
        response = views.server_error(request)

    page = response.content.decode()
    assert response.status_code == 500
    assert len(queries) == 0
    assert 'data-testid="error-500"' in page
    assert "系統發生錯誤" in page


def test_a_crashing_view_shows_the_500_page(login_as, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("omnichannel.views.home_filters", crash)
    client = login_as("bob")
    client.raise_request_exception = False

    response = client.get("/")

    assert response.status_code == 500
    assert "系統發生錯誤" in response.content.decode()


def test_the_handlers_are_wired():
    assert urls.handler403 == "omnichannel.views.permission_denied"
    assert urls.handler404 == "omnichannel.views.page_not_found"
    assert urls.handler500 == "omnichannel.views.server_error"
