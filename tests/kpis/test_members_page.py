"""The Members / OMO page to exact numbers on a small hand-checked set: new members, active
members, the OMO share and premium, cohort retention, historic CLV, the RFM grid, and the
predictions written with known parameters against the closed-form formulas."""

from datetime import date, datetime, time
from math import isclose

import pytest
from scipy.special import hyp2f1

from crm.models import Store
from crm.services.stats import member_stats_rebuild
from omnichannel.kpis.clv import ClvParams, clv_models_refresh
from omnichannel.kpis.models import (
    ClvModelRun,
    ClvPrediction,
    CohortMonthly,
    NewMembersDaily,
    OmoMonthly,
)
from omnichannel.kpis.services import kpis_rebuild, kpis_refresh
from tests.factories import MemberFactory
from tests.kpis.helpers import TAIPEI, at, sale, write

pytestmark = pytest.mark.django_db(transaction=True)

NOVEMBER = "start=2026-11-01&end=2026-11-30"
AS_OF = datetime(2026, 12, 1, tzinfo=TAIPEI)
KNOWN = ClvParams(r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0)


def joined(day: date):
    return datetime.combine(day, time(10), tzinfo=TAIPEI)


@pytest.fixture
def members():
    # cat (joined by web in August) buys in the app in September (400) and November (800);
    # eve (joined in a store in August) buys in store in September (300) and October (200);
    # ann (joined by LINE, 2 Nov) buys in store (1,000) and on the web (2,000) in November;
    # bob (joined in a store, 3 Nov) buys in store three times in November (500, 700, 300);
    # dan (joined by LINE, 20 Nov) never buys.
    def member(day, channel):
        return MemberFactory(home_store=None, acquisition_channel=channel, joined_at=joined(day))

    cat = member(date(2026, 8, 20), "web")
    eve = member(date(2026, 8, 25), "store")
    ann = member(date(2026, 11, 2), "line")
    bob = member(date(2026, 11, 3), "store")
    dan = member(date(2026, 11, 20), "line")
    write(
        sale("C1", 400, at(date(2026, 9, 10)), channel="app"),
        sale("C2", 800, at(date(2026, 11, 7)), channel="app"),
        member=cat,
    )
    write(
        sale("E1", 300, at(date(2026, 9, 12)), store="TPE01"),
        sale("E2", 200, at(date(2026, 10, 3)), store="TPE01"),
        member=eve,
    )
    write(
        sale("A1", 1_000, at(date(2026, 11, 2)), store="TPE01"),
        sale("A2", 2_000, at(date(2026, 11, 5)), channel="web"),
        member=ann,
    )
    write(
        sale("B1", 500, at(date(2026, 11, 3)), store="KHH01"),
        sale("B2", 700, at(date(2026, 11, 10)), store="KHH01"),
        sale("B3", 300, at(date(2026, 11, 20)), store="KHH01"),
        member=bob,
    )
    member_stats_rebuild(at=AS_OF)  # the nightly figures and RFM scores (dan gets figures too)
    kpis_refresh()
    return {"ann": ann, "bob": bob, "cat": cat, "dan": dan, "eve": eve}


def tile(html: str, key: str) -> str:
    part = html.split(f'data-testid="tile-{key}"', 1)[1]
    return part.split('data-testid="tile-value">', 1)[1].split("<", 1)[0]


def csv(client, key: str, query: str = NOVEMBER) -> list[str]:
    response = client.get(f"/kpis/members/{key}.csv?{query}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8-sig").splitlines()[1:]


def test_the_tiles_count_new_and_active_members_and_the_omo_share(members, login_as):
    html = login_as("carol").get(f"/kpis/members/?{NOVEMBER}").content.decode()

    assert 'data-testid="kpi-section-error"' not in html
    assert tile(html, "new-members") == "3"  # ann, bob, dan
    assert tile(html, "active-members") == "3"  # ann, bob, cat
    assert tile(html, "omo-share") == "33.3%"  # ann of the three
    # OMO: ann NT$3,000; single-channel: (bob 1,500 + cat 800) / 2 = NT$1,150 → 2.61×
    assert tile(html, "omo-premium") == "2.61×"


def test_the_omo_table_compares_spend_and_frequency(members, login_as):
    rows = csv(login_as("carol"), "omo")
    assert rows == [
        # OMO: ann; store only: bob (3 orders, 1,500); online only: cat (1 order, 800)
        "同月 OMO（線上與門市）,1,33.3,3000,2.0,2.61,1.0",
        "僅門市,1,33.3,1500,3.0,1.3,1.5",
        "僅線上消費,1,33.3,800,1.0,0.7,0.5",
        "單一通路（僅門市或僅線上）,2,66.7,1150,2.0,1.0,1.0",
    ]


def test_a_store_narrows_the_omo_split_to_its_buyers(members, login_as):
    # TPE01 in November: ann (store and web); KHH01: bob (store only).
    client = login_as("carol")
    assert csv(client, "omo", f"{NOVEMBER}&store=TPE01")[0] == (
        "同月 OMO（線上與門市）,1,100.0,3000,2.0,,"
    )
    html = client.get(f"/kpis/members/?{NOVEMBER}&store=KHH01").content.decode()
    assert tile(html, "omo-share") == "0.0%"
    assert tile(html, "active-members") == "1"


def test_over_several_months_the_omo_split_counts_member_months(members, login_as):
    # September to November: cat (app) and eve (store) in September, eve in October; ann,
    # bob and cat in November: 6 member-months, ann's the only OMO one.
    html = login_as("carol").get("/kpis/members/?start=2026-09-01&end=2026-11-30").content
    assert tile(html.decode(), "omo-share") == "16.7%"
    assert tile(html.decode(), "active-members") == "4"  # cat, eve, ann, bob


def test_new_members_per_acquisition_channel(members, login_as):
    assert csv(login_as("carol"), "new-members-by-channel") == [
        "LINE,2,66.7",
        "門市,1,33.3",
    ]
    assert NewMembersDaily.objects.filter(day=date(2026, 11, 20)).get().members == 1


def test_cohort_retention_counts_months_since_the_first_purchase(members, login_as):
    rows = csv(login_as("carol"), "cohort-retention")
    # September: cat and eve; eve buys in October (M1), cat in November (M2).
    assert rows[0].split(",")[:5] == ["2026-09", "2", "100.0", "50.0", "50.0"]
    assert rows[1].split(",")[:3] == ["2026-11", "2", "100.0"]
    assert len(rows) == 2
    everyone = CohortMonthly.objects.filter(store_id__isnull=True)
    assert everyone.get(cohort=date(2026, 9, 1), month=date(2026, 10, 1)).members == 1


def test_a_store_narrows_the_cohorts_to_purchases_at_that_store(members, login_as):
    # At TPE01: eve (September cohort) in September and October; ann (November) in November.
    # cat's app purchases and ann's web order are not at the store.
    rows = csv(login_as("carol"), "cohort-retention", f"{NOVEMBER}&store=TPE01")
    assert [row.split(",")[:4] for row in rows] == [
        ["2026-09", "1", "100.0", "100.0"],
        ["2026-11", "1", "100.0", ""],
    ]
    tpe01 = Store.objects.get(code="TPE01").pk
    cells = CohortMonthly.objects.filter(store_id=tpe01)
    assert set(cells.values_list("cohort", "month", "members", "revenue_twd")) == {
        (date(2026, 9, 1), date(2026, 9, 1), 1, 300),
        (date(2026, 9, 1), date(2026, 10, 1), 1, 200),
        (date(2026, 11, 1), date(2026, 11, 1), 1, 1_000),
    }


def test_a_refresh_folds_new_orders_into_the_cohorts(members):
    # when cat buys again in December (his September cohort's M3)
    write(sale("C3", 100, at(date(2026, 12, 2)), channel="app"), member=members["cat"])
    kpis_refresh()
    cell = CohortMonthly.objects.get(
        cohort=date(2026, 9, 1), month=date(2026, 12, 1), store_id__isnull=True
    )
    assert (cell.members, cell.orders, cell.revenue_twd) == (1, 1, 100)
    # and a rebuild writes the same cells
    cells = ("cohort", "month", "store_id", "members", "revenue_twd")
    before = set(CohortMonthly.objects.values_list(*cells))
    omo_before = set(OmoMonthly.objects.values_list("month", "store_id", "kind", "members"))
    kpis_rebuild()
    after = set(CohortMonthly.objects.values_list(*cells))
    assert before == after
    assert omo_before == set(OmoMonthly.objects.values_list("month", "store_id", "kind", "members"))


def test_historic_clv_by_acquisition_channel_and_cohort(members, login_as):
    clv_models_refresh(as_of=AS_OF, params=KNOWN)
    client = login_as("carol")
    by_channel = {row.split(",")[0]: row.split(",")[1:5] for row in csv(client, "clv-by-channel")}
    # LINE: ann 3,000 and dan 0; stores: bob 1,500 and eve 500; web: cat 1,200.
    assert by_channel["LINE"] == ["2", "1", "1500", "3000"]
    assert by_channel["門市"] == ["2", "2", "1000", "1000"]
    assert by_channel["官網"] == ["1", "1", "1200", "1200"]
    by_cohort = {row.split(",")[0]: row.split(",")[1:3] for row in csv(client, "clv-by-cohort")}
    assert by_cohort == {"2026-11": ["2", "2250"], "2026-09": ["2", "850"]}


def test_the_rfm_grid_counts_members_per_score(members, login_as):
    clv_models_refresh(as_of=AS_OF, params=KNOWN)
    # Recency ranks eve < ann < cat < bob; only bob has 3 orders in 365 days.
    assert csv(login_as("carol"), "rfm-grid") == [
        "4,4,1,1500",
        "3,1,1,1200",
        "2,1,1,3000",
        "1,1,1,500",
    ]


def bgnbd_expected(params: ClvParams, x: float, t_x: float, T: float, t: float) -> float:
    """Fader, Hardie & Lee (2005), eq. 10: expected purchases in (T, T + t]."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    ratio = ((alpha + T) / (alpha + T + t)) ** (r + x)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ratio * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    tail = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return head * body / tail


def test_predictions_follow_the_closed_form_of_the_models(members):
    run = clv_models_refresh(as_of=AS_OF, params=KNOWN)
    assert run.status == ClvModelRun.Status.DONE and run.members_predicted == 4  # not dan
    ann = ClvPrediction.objects.get(member_id=members["ann"].pk)
    # ann: one repeat purchase 3 days after her first (2 Nov noon), 28.5 days before AS_OF
    x, t_x, T = 1, 3 / 7, 28.5 / 7
    expected = bgnbd_expected(KNOWN, x, t_x, T, 52)
    assert isclose(ann.predicted_purchases_12m, expected, rel_tol=1e-6)
    spend = KNOWN.p * (KNOWN.v + x * 1_500) / (KNOWN.p * x + KNOWN.q - 1)  # Gamma-Gamma mean
    assert ann.predicted_clv_12m_twd == round(expected * spend)


def test_the_page_makes_a_fixed_number_of_queries(members, login_as, django_assert_num_queries):
    clv_models_refresh(as_of=AS_OF, params=KNOWN)
    client = login_as("carol")
    client.get(f"/kpis/members/?{NOVEMBER}")  # the session and permissions, once
    with django_assert_num_queries(23):
        client.get(f"/kpis/members/?{NOVEMBER}&compare=1")
