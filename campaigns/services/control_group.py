"""The global control group's nightly figures: the programme's total incrementality.

Over the last 30 days (Asia/Taipei) up to a day, the active members in the control group
against all other active members: how many, how many bought, net revenue and Σ revenue² per
member (crm's rule for a sale and for net revenue, STYLE.md 23), in one aggregate query grouped
by the control-group flag. One row per (day, window) in ControlGroupFigures; a rerun of the
same day rewrites it (beat may run it twice).
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from campaigns.control_group import control_group_percent, in_control_group_sql
from campaigns.models import ControlGroupFigures
from crm.models import Member, Order, net_revenue, sale_q

WINDOW_DAYS = 30


def _window(day: date, window_days: int) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return end - timedelta(days=window_days), end


def control_group_figures_compute(
    *, day: date | None = None, window_days: int = WINDOW_DAYS
) -> ControlGroupFigures | None:
    """Count both groups over the `window_days` days ending with `day` (default: yesterday in
    Taipei) and keep the figures; the same day again replaces them. None (nothing counted)
    when there is no control group."""
    percent = control_group_percent()
    if percent <= 0:
        return None
    day = day or timezone.localdate() - timedelta(days=1)
    start, end = _window(day, window_days)
    per_member = (
        Order.objects.filter(member__isnull=False, placed_at__gte=start, placed_at__lt=end)
        .order_by()
        .values("member_id")
        .annotate(revenue=net_revenue(), sales=Count("pk", filter=sale_q()))
    )
    orders_sql, orders_params = per_member.query.sql_with_params()
    control_sql, control_params = in_control_group_sql("m.id", percent=percent)
    member_table = connection.ops.quote_name(Member._meta.db_table)
    sql = (
        f"SELECT CASE WHEN {control_sql} THEN 1 ELSE 0 END AS in_control, COUNT(*), "  # noqa: S608 (names from _meta and code, values as parameters)
        "SUM(CASE WHEN COALESCE(r.sales, 0) > 0 THEN 1 ELSE 0 END), "
        "COALESCE(SUM(COALESCE(r.revenue, 0)), 0), "
        "COALESCE(SUM(CAST(COALESCE(r.revenue, 0) AS BIGINT) * COALESCE(r.revenue, 0)), 0) "
        f"FROM {member_table} m LEFT JOIN ({orders_sql}) r ON r.member_id = m.id "
        "WHERE m.status = %s GROUP BY 1"
    )
    params = [*control_params, *orders_params, Member.Status.ACTIVE]
    groups = {1: (0, 0, 0, 0), 0: (0, 0, 0, 0)}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for in_control, members, buyers, revenue, sumsq in cursor.fetchall():
            groups[int(in_control)] = (members, buyers or 0, revenue, sumsq)
    control, rest = groups[1], groups[0]
    figures, _ = ControlGroupFigures.objects.update_or_create(
        day=day,
        window_days=window_days,
        defaults={
            "percent": percent,
            "control_members": control[0],
            "control_buyers": control[1],
            "control_revenue_twd": int(control[2]),
            "control_revenue_sumsq": Decimal(int(control[3])),
            "rest_members": rest[0],
            "rest_buyers": rest[1],
            "rest_revenue_twd": int(rest[2]),
            "rest_revenue_sumsq": Decimal(int(rest[3])),
            "computed_at": timezone.now(),
        },
    )
    return figures
