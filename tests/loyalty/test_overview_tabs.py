"""The loyalty tabs show the pages that exist, and light up the one shown."""

import pytest
from django.http import HttpResponse
from django.urls import include, path

from loyalty import urls as loyalty_urls
from loyalty.navigation import loyalty_tabs

pytestmark = pytest.mark.django_db


def _page(request):
    return HttpResponse()


class WithRewards:
    """A URLconf where the rewards part's list page exists under the name it chose."""

    urlpatterns = [
        path(
            "loyalty/",
            include(
                (
                    [*loyalty_urls.urlpatterns, path("rewards/", _page, name="reward_list")],
                    "loyalty",
                )
            ),
        )
    ]


def test_every_loyalty_page_has_a_tab_and_the_current_one_is_active(alice):
    tabs = loyalty_tabs(user=alice, current="loyalty:index")

    assert [(tab["url"], tab["active"]) for tab in tabs] == [
        ("/loyalty/", True),
        ("/loyalty/rules/", False),
        ("/loyalty/tiers/", False),
        ("/loyalty/rewards/", False),
        ("/loyalty/coupons/", False),
        ("/loyalty/jobs/", False),
    ]


def test_a_page_that_arrives_lights_up_its_tab(alice, settings):
    settings.ROOT_URLCONF = WithRewards

    tabs = loyalty_tabs(user=alice, current="loyalty:reward_list")

    urls = {tab["url"]: tab["active"] for tab in tabs}
    assert urls["/loyalty/rewards/"] is True and urls["/loyalty/"] is False


def test_a_tab_hides_from_a_user_without_its_permission(django_user_model, settings):
    settings.ROOT_URLCONF = WithRewards
    nobody = django_user_model.objects.create_user("nobody")

    assert loyalty_tabs(user=nobody, current="") == []
