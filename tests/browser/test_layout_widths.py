"""The member list and the profile fit a laptop (1440 px) and a tablet (820 px).

No column is cut off or scrolled sideways, nothing stretches the page below the content, and on
a tablet the key columns and the profile's key figures come first.
"""

import pytest

from crm.models import Identity, MemberStats
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.browser

LAPTOP, TABLET = 1440, 820
KEY_COLUMNS = ["會員編號", "姓名", "聯絡方式", "累計消費", "最近消費"]
LINE_ID = "U4af4980629a0b1c2d3e4f5a6b7c8db3c"


@pytest.fixture
def members(transactional_db):
    store = StoreFactory(code="TPE01", name="台北信義店")
    made = []
    for n in range(60):
        member = MemberFactory(member_no=f"M{n:07d}", name=f"歐陽{n:02d}", home_store=store)
        # The longest contacts real lists hold: a long email next to a phone.
        Identity.objects.create(
            member=member, kind="email", value=f"chuangchengkuan.lin{n:05d}@outlook.com.tw"
        )
        Identity.objects.create(member=member, kind="phone", value=f"+8869{n:08d}")
        Identity.objects.create(member=member, kind="line_user_id", value=f"U{n:032x}")
        MemberStats.objects.create(
            member=member, total_spend_twd=n * 123_456, orders_count=n, orders_online=n
        )
        made.append(member)
    return made


def _overflow(page, selector: str) -> tuple[int, int]:
    return page.evaluate(
        "s => { const e = document.querySelector(s); return [e.scrollWidth, e.clientWidth]; }",
        selector,
    )


def _void_below_content(page) -> int:
    """How far the page scrolls past the bottom of its content."""
    return page.evaluate(
        """() => document.documentElement.scrollHeight
                 - document.querySelector('main').getBoundingClientRect().bottom
                 - window.scrollY"""
    )


@pytest.mark.parametrize("width", [LAPTOP, TABLET])
def test_the_member_list_fits_with_no_clipped_column(browser_login, live_server, members, width):
    page = browser_login("bob")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/members/")

    scroll_width, client_width = _overflow(page, ".table-scroll")
    assert scroll_width <= client_width, f"the table scrolls sideways at {width} px"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert _void_below_content(page) < 40, "a blank void below the list"
    visible = [
        text.strip() for text in page.locator(".data-table thead th:visible").all_inner_texts()
    ]
    if width == LAPTOP:
        assert len(visible) == 9  # every column fits a laptop
    else:
        assert visible == KEY_COLUMNS  # a tablet keeps the key columns


def test_the_profile_puts_its_key_figures_first_on_a_tablet(browser_login, live_server, members):
    page = browser_login("carol")
    page.set_viewport_size({"width": TABLET, "height": 900})
    page.goto(f"{live_server.url}/members/M0000059/")

    figures = page.locator("[data-testid=figures]").bounding_box()
    facts = page.locator("[data-testid=profile-header]").bounding_box()
    identities = page.locator("[data-testid=identities]").bounding_box()
    assert figures["y"] < facts["y"] < identities["y"]
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET


@pytest.mark.parametrize("width", [LAPTOP, TABLET])
def test_identity_values_wrap_inside_their_card(browser_login, live_server, members, width):
    page = browser_login("bob")  # sees the values in full: the longest they get
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/members/M0000059/")

    card = page.locator("[data-testid=identities]").bounding_box()
    for value in page.locator("[data-testid=identity-value]").all():
        box = value.bounding_box()
        assert box["x"] >= card["x"] and box["x"] + box["width"] <= card["x"] + card["width"]
    assert f"U{59:032x}" in page.locator("[data-testid=identities]").inner_text()


def test_the_analyst_sees_short_masks(browser_login, live_server, members):
    page = browser_login("carol")
    page.goto(f"{live_server.url}/members/M0000059/")

    text = page.locator("[data-testid=identities]").inner_text()
    assert "U0000…03b" in text
    assert "*" * 10 not in text
