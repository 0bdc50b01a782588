"""The till's hold and commit cost a pinned number of statements: a change that adds one fails
here and must say why in the pin.

Counted as the test client runs them, inside the test's transaction, so the API's outer
transaction shows as a SAVEPOINT and its RELEASE (in production they are BEGIN and COMMIT).
The first figures of issue 12 were hold 17, commit 22.
"""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.services.api_keys import api_key_create
from loyalty.models import PointsTransaction
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from tests.factories import IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

# hold: key; transaction, claim of the Idempotency-Key (in its own savepoint: a racing retry's
# unique violation is caught); member by phone with its account (one query); programme;
# account lock; open holds' sum (after the lock, on purpose: see till.hold_create); the hold;
# the stored answer; end of the transaction.
HOLD_STATEMENTS = 12
# commit: key; transaction, claim (savepoint); account lock found through the hold; hold lock;
# the order; the ledger's savepoint (entries_post keeps one: a caller may go on after its
# refusal), its idempotency check, entry, balance, the member's wallet cards marked changed,
# release; hold; open holds' sum for the answer; the stored answer; end of the transaction; and
# the order's share: the programme and what the order's other holds redeemed already (two
# statements).
COMMIT_STATEMENTS = 20
RELEASE_STATEMENTS = 11


@pytest.fixture
def post(alice):
    key = api_key_create(name="POS", channel="store", actor=alice, scopes=["points"])[1]
    client = Client()

    def _post(path, body=None, *, idempotency_key):
        return client.post(
            f"/api/v1/{path}",
            data=json.dumps(body) if body is not None else "",
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key},
        )

    # The key's first use notes its last_used_at once a minute: not a cost of every call.
    _post("points/quote", {"member": "M0", "order_amount_twd": 1}, idempotency_key="warm")
    return _post


@pytest.fixture
def member():
    member = MemberFactory()
    IdentityFactory(member=member, raw="+886 912 345 678")
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    entries_post(
        entries=[
            Entry(
                account_id,
                PointsTransaction.Kind.EARN,
                1000,
                "earn:q",
                PointsTransaction.Source.ORDER,
                expires_on=timezone.localdate() + timedelta(days=100),
            )
        ]
    )
    return member


def _counted(post, path, body, *, key, status):
    with CaptureQueriesContext(connection) as queries:
        response = post(path, body, idempotency_key=key)
    assert response.status_code == status, response.content
    return response.json(), [query["sql"][:120] for query in queries.captured_queries]


def test_hold_commit_and_release_cost_their_pinned_statements(post, member):
    hold, statements = _counted(
        post,
        "points/holds",
        {"member": "0912-345-678", "order_amount_twd": 1000, "points": 10},
        key="h1",
        status=201,
    )
    assert len(statements) == HOLD_STATEMENTS, "\n".join(statements)
    assert hold["available"] == 990

    committed, statements = _counted(
        post, f"points/holds/{hold['id']}/commit", {"order_no": "S1"}, key="c1", status=200
    )
    assert len(statements) == COMMIT_STATEMENTS, "\n".join(statements)
    assert committed["redeemed"]["balance_after"] == 990
    assert committed["available"] == 990

    other, _ = _counted(
        post,
        "points/holds",
        {"member": member.member_no, "order_amount_twd": 1000},
        key="h2",
        status=201,
    )
    released, statements = _counted(
        post, f"points/holds/{other['id']}/release", None, key="r1", status=200
    )
    assert len(statements) == RELEASE_STATEMENTS, "\n".join(statements)
    assert released["status"] == "released"
    assert released["available"] == 990
