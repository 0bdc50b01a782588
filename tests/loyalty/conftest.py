"""Loyalty's tests share the programme's defaults that migration 0002 writes.

A transactional test (django_db(transaction=True): the feed's consumers read only committed
rows on PostgreSQL) ends with a flush, which also takes migration 0002's tiers and programme
row; under xdist a plain test may run after one on the same worker. So every database test of
loyalty starts with the defaults in place.
"""

import pytest

from tests.loyalty.tiers_defaults import tiers_default_ensure
from tests.loyalty.wallet_apple_helpers import apple_dev, apple_dev_dir  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _programme_defaults(request):
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")  # the database is open for this test first
    tiers_default_ensure()


from tests.loyalty.servers.google_wallet_fixtures import google_wallet  # noqa: E402, F401
