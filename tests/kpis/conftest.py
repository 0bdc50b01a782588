"""The KPI tests share loyalty's programme defaults that migration 0002 writes (its tiers).

Many KPI tests are transactional (the order feed reads only committed rows on PostgreSQL); a
transactional test ends with a flush, which also takes the migration's tiers, and under xdist
a plain test may run after one on the same worker. So every database test starts with them.
"""

import pytest

from tests.loyalty.tiers_defaults import tiers_default_ensure


@pytest.fixture(autouse=True)
def _programme_defaults(request):
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")  # the database is open for this test first
    tiers_default_ensure()
