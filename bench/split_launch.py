"""Bench: the launch's snapshot of a million members, plain and as an A/B test with holdouts.

    uv run python bench/split_launch.py [--members 1000000] [--database-url URL] [--keep]

The database (default postgres://postgres@127.0.0.1:5432/omni_split_bench; its name must end
in "_bench") is created, migrated and filled as bench/send_campaign.py fills it (members with a
LINE id or an e-mail address, opted in; 20 stores as home stores). Then, in this process,
campaign_snapshot runs for three campaigns to everyone on LINE → e-mail:
1. one variant, no holdout (the launch as before A/B tests);
2. A/B/C 40/30/30 with a 10% holdout, 2 held-out stores and a 5% global control group;
3. the same in winner mode (20% test share: most rows written waiting, without a batch).
Each is timed (seconds; goal < 30 s like the send bench's snapshot) and its deliveries counted
by arm, which the split must give exactly.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from bench_db import django_env, drop_database, migrate, recreate_database
from send_campaign import CAMPAIGN_TABLES, load, seeded_members

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_split_bench"
GOAL_S = 30.0
STORES = 20


def seed_stores(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO crm_store (id, code, name, city) SELECT i, 'S' || i, '門市 ' || i, '' "  # noqa: S608 (a constant)
            f"FROM generate_series(1, {STORES}) i ON CONFLICT DO NOTHING"
        )
        conn.execute(f"UPDATE crm_member SET home_store_id = 1 + id % {STORES}")  # noqa: S608
        conn.execute(f"TRUNCATE {', '.join(CAMPAIGN_TABLES)} CASCADE")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE crm_member")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    url = args.database_url
    if not (args.keep and seeded_members(url) == args.members):
        recreate_database(url)
        migrate(url)
        print(f"loading {args.members:,} members")
        load(url, args.members, 0.7)
    seed_stores(url)

    os.environ.update(django_env(url))
    import django

    django.setup()
    from django.db.models import Count
    from django.test import override_settings

    from campaigns.models import Campaign, Delivery
    from campaigns.services import campaign_launch, campaign_save, campaign_snapshot
    from crm.models import Segment
    from crm.segments.definition import EMPTY_DEFINITION
    from tests.campaigns.load_content import EMAIL_CONTENT, LINE_CONTENT

    segment = Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION)
    plans = [
        ("plain", {}),  # and no control group
        (
            "A/B/C + holdouts",
            {
                "variant_split": {"A": 40, "B": 30, "C": 30},
                "holdout_percent": 10,
                "holdout_store_ids": [1, 2],
            },
        ),
        (
            "winner mode",
            {
                "variant_split": {"A": 50, "B": 50},
                "holdout_percent": 10,
                "winner_metric": "clicks",
                "winner_test_percent": 20,
            },
        ),
    ]
    rows = []
    for label, fields in plans:
        campaign = campaign_save(
            name=label,
            segment=segment,
            channels=["line", "email"],
            contents={"line": LINE_CONTENT, "email": EMAIL_CONTENT},
            **fields,
        )
        campaign_launch(campaign=campaign)
        control = 0 if label == "plain" else 5
        with override_settings(CAMPAIGN_GLOBAL_CONTROL_PERCENT=control):
            started = time.perf_counter()
            campaign_snapshot(campaign_id=campaign.pk)
            seconds = time.perf_counter() - started
        arms = dict(
            Delivery.objects.filter(campaign=campaign)
            .values_list("reason")
            .annotate(n=Count("pk"))
            .order_by()
            .filter(status="held_out")
        )
        variants = dict(
            Delivery.objects.filter(campaign=campaign)
            .exclude(status="held_out")
            .values_list("variant")
            .annotate(n=Count("pk"))
            .order_by()
        )
        status = Campaign.objects.get(pk=campaign.pk).status
        rows.append((label, seconds, arms, variants, status))
        print(f"{label:<18} {seconds:6.1f} s  held out {arms}  variants {variants}  {status}")

    print()
    print(f"{'launch':<18} {'seconds':>8}  goal < {GOAL_S:.0f} s")
    for label, seconds, *_ in rows:
        print(f"{label:<18} {seconds:8.1f}  {'PASS' if seconds < GOAL_S else 'MISS'}")
    print(f"ratio A/B/C to plain: {rows[1][1] / rows[0][1]:.2f}")
    if not args.keep:
        from django.db import connections

        connections.close_all()
        drop_database(url)


if __name__ == "__main__":
    main()
