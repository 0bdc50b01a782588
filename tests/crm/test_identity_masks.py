"""Masked identifiers are short enough for a card: U4af4…b3c, not 32 asterisks."""

import pytest

from crm import pii
from crm.models import Identity
from crm.resources import mask_identifier
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
LINE_ID = "U4af4980629a0b1c2d3e4f5a6b7c8db3c"


def test_a_code_is_masked_to_its_ends():
    assert pii.mask_token(LINE_ID) == "U4af4…b3c"
    assert pii.mask_token("C-29998") == "C…8"
    assert pii.mask_token("ab") == "…"


def test_phones_and_emails_keep_their_masks():
    assert mask_identifier(Identity.Kind.PHONE, "+886912345678") == "0912-***-678"
    assert mask_identifier(Identity.Kind.LINE_USER_ID, LINE_ID) == "U4af4…b3c"


def test_the_analyst_sees_short_masks_on_the_identities_card(login_as):
    member = MemberFactory(member_no="M0000001", name="陳美玲")
    Identity.objects.create(member=member, kind=Identity.Kind.LINE_USER_ID, value=LINE_ID)
    Identity.objects.create(member=member, kind=Identity.Kind.PHONE, value="+886912345678")

    page = login_as("carol").get("/members/M0000001/").content.decode()

    assert "U4af4…b3c" in page
    assert "0912-***-678" in page
    assert LINE_ID not in page
    assert "*" * 10 not in page
