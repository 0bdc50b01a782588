"""Issue 9: a strict Content-Security-Policy on every page, and no template that needs less."""

import re
from pathlib import Path

import pytest

from crm.services import member_merge_by_hand
from omnichannel.csp import HEADER
from tests.factories import IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def member():
    first, second = MemberFactory(member_no="M0000001"), MemberFactory()
    IdentityFactory(member=first, raw="0912-345-678")
    member_merge_by_hand(first=first, second=second, reason="same", actor=None)
    return first


PAGES = [
    "/",
    "/members/",
    "/members/?q=0912345678",
    "/members/M0000001/",
    "/segments/",
    "/imports/",
    "/audit/",
    "/campaigns/",
    "/admin/",
    "/admin/crm/member/",
    "/api/v1/docs",
    "/api/v1/openapi.json",
    "/members/NOSUCH/",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_the_policy(login_as, member, path):
    response = login_as("alice").get(path)

    assert response.status_code in (200, 404), path
    policy = response[HEADER]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy and "frame-ancestors 'none'" in policy


def test_the_login_page_and_health_check_have_it_too(client):
    for path in ("/accounts/login/", "/healthz"):
        assert "default-src 'self'" in client.get(path)[HEADER]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
STYLE_ATTRIBUTE = re.compile(r"\sstyle=[\"']")
EVENT_ATTRIBUTE = re.compile(r"\s(on[a-z]+|hx-on[:\w-]*)=[\"']")


def _sources():
    for path in sorted((ROOT / "templates").rglob("*.html")):
        yield path, path.read_text()
    for folder in ("crm", "omnichannel", "loyalty", "campaigns"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text()
            if "format_html" in text or "mark_safe" in text:
                yield path, text


def test_no_template_needs_an_inline_script_a_style_attribute_or_eval():
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path, text in _sources()
        for pattern in (INLINE_SCRIPT, STYLE_ATTRIBUTE, EVENT_ATTRIBUTE)
        for match in pattern.finditer(text)
    ]

    assert found == []
