"""Issue 9: pages work under the strict Content-Security-Policy with no violation: the htmx
search swaps its results, colours and bar widths arrive through static/js/app.js, the language
switch submits itself; and the admin's audit page filters its events."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.models import Identity, Member, MemberStats
from crm.services import member_merge_by_hand
from omnichannel.models import AuditEvent

pytestmark = pytest.mark.browser

WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def csp_violations(page):
    """CSP violations the page reports, from the DOM event and the console."""
    console: list[str] = []
    page.add_init_script(WATCH_CSP)
    page.on(
        "console",
        lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None,
    )

    def _read() -> list[str]:
        return [*page.evaluate("window.__csp || []"), *console]

    return _read


@pytest.fixture
def members(transactional_db):
    first = Member.objects.create(member_no="M0000001", name="陳美玲", joined_at=timezone.now())
    second = Member.objects.create(member_no="M0000002", name="林大同", joined_at=timezone.now())
    Identity.objects.create(member=first, kind="phone", value="+886912000111")
    MemberStats.objects.create(member=first, total_spend_twd=1280, orders_count=1)
    member_merge_by_hand(first=first, second=second, reason="same", actor=None)
    return first


def test_pages_work_under_the_policy_without_violations(
    browser_login, live_server, members, csp_violations
):
    page = browser_login("alice")
    expect(page.locator("[data-testid=sidebar]")).to_be_visible()

    page.goto(f"{live_server.url}/members/")
    page.fill("#member-search", "0912000111")
    expect(page).to_have_url(re.compile(r"q=0912000111"))
    expect(page.locator("[data-testid=member-row]")).to_have_count(1)
    assert "tag=" not in page.url and "channel=" not in page.url  # empty fields left out

    page.goto(f"{live_server.url}/members/M0000001/")
    icon = page.locator("[data-testid=timeline-entry] .timeline-icon").first
    expect(icon).to_be_visible()
    colour = icon.evaluate("el => el.style.getPropertyValue('--channel-colour')")
    assert colour.startswith("#")

    page.goto(f"{live_server.url}/")
    bars = page.locator("[data-width]")
    if bars.count():
        assert bars.first.evaluate("el => el.style.width").endswith("%")

    page.select_option("select[data-autosubmit]", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    for path in ("/segments/", "/imports/", "/audit/", "/admin/", "/api/v1/docs"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert csp_violations() == [], path
    assert csp_violations() == []


def test_the_admin_reads_and_filters_the_audit_trail(browser_login, live_server, members):
    page = browser_login("alice")
    page.click("[data-testid=nav] a[href='/audit/']")

    expect(page.locator("[data-testid=audit-row]")).to_have_count(1)
    expect(page.locator("[data-testid=audit-row]").first).to_have_attribute("data-action", "merge")
    expect(page.locator("h1, .app-page-title").first).to_contain_text("稽核紀錄")

    page.select_option("#id_action", AuditEvent.Action.EXPORT)
    page.click("[data-testid=audit-filters] button[type=submit]")
    expect(page.locator("[data-testid=audit-empty]")).to_be_visible()
    assert "action=export" in page.url
