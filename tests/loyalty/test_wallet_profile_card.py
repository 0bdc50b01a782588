"""The wallet card on the member's 360° profile: whether each wallet holds the card (added on,
removed on, never), the add-to-wallet link and its QR code only for roles that may unmask, and
the wallet touchpoints on the timeline with the wallet named."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from loyalty.models import WalletPass
from loyalty.selectors_profile import wallet_statuses
from loyalty.services.wallet import wallet_pass_added, wallet_pass_issue, wallet_pass_removed
from loyalty.wallet.links import wallet_link_member_no
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

TAIPEI = ZoneInfo("Asia/Taipei")
APPLE = WalletPass.Platform.APPLE
GOOGLE = WalletPass.Platform.GOOGLE


@pytest.fixture
def member():
    """Apple: added 2026/11/02, still there; Google: added 2026/11/03, removed 2026/11/20."""
    member = MemberFactory(member_no="M00054321")
    apple = wallet_pass_issue(member_id=member.pk, platform=APPLE)
    google = wallet_pass_issue(member_id=member.pk, platform=GOOGLE)
    wallet_pass_added(wallet_pass=apple, at=datetime(2026, 11, 2, 10, 0, tzinfo=TAIPEI))
    wallet_pass_added(wallet_pass=google, at=datetime(2026, 11, 3, 10, 0, tzinfo=TAIPEI))
    wallet_pass_removed(wallet_pass=google, at=datetime(2026, 11, 20, 9, 0, tzinfo=TAIPEI))
    return member


def profile(client, member_no: str) -> str:
    return client.get(f"/members/{member_no}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_statuses_per_wallet(member, django_assert_num_queries):
    with django_assert_num_queries(1):
        statuses = {status.platform: status for status in wallet_statuses(member_id=member.pk)}
    assert statuses[APPLE].state == "installed"
    assert statuses[GOOGLE].state == "removed"
    nobody = MemberFactory()
    assert {s.state for s in wallet_statuses(member_id=nobody.pk)} == {"never"}
    issued_only = MemberFactory()
    wallet_pass_issue(member_id=issued_only.pk, platform=GOOGLE)
    states = {s.platform: s.state for s in wallet_statuses(member_id=issued_only.pk)}
    assert states == {APPLE: "never", GOOGLE: "issued"}


def test_the_profile_shows_added_on_and_removed_on(login_as, member):
    page = profile(login_as("carol"), member.member_no)
    assert 'data-platform="apple" data-state="installed"' in page
    assert "added on 2026/11/02" in page
    assert 'data-platform="google" data-state="removed"' in page
    assert "removed on 2026/11/20" in page


def test_a_member_without_a_card_reads_never_added(login_as):
    other = MemberFactory()
    page = profile(login_as("carol"), other.member_no)
    assert page.count('data-state="never"') == 2
    assert page.count("Never added") == 2


def test_the_link_and_its_qr_code_only_for_roles_that_may_unmask(login_as, member):
    marketer = profile(login_as("bob"), member.member_no)
    assert 'data-testid="wallet-link"' in marketer
    token = re.search(r'value="[^"]*/wallet/add/([^"/]+)/"', marketer).group(1)
    assert wallet_link_member_no(token) == member.member_no
    assert 'data-testid="wallet-link-qr"' in marketer and "<svg" in marketer
    analyst = profile(login_as("carol"), member.member_no)
    assert 'data-testid="wallet-card"' in analyst
    assert 'data-testid="wallet-link"' not in analyst
    assert "/wallet/add/" not in analyst


def test_the_timeline_shows_the_wallet_touchpoints_with_the_wallet(login_as, member):
    page = profile(login_as("carol"), member.member_no)
    assert page.count('data-kind="touchpoint" data-channel="wallet"') == 3
    assert page.count("Added the member card to a wallet") == 2
    assert page.count("Removed the member card from a wallet") == 1
    assert "bi-wallet2" in page
    timeline = page.split('data-testid="timeline"', 1)[1]
    assert "Apple Wallet" in timeline and "Google Wallet" in timeline
