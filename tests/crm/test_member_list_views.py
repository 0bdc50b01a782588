"""The /members/ page: rendering per persona, htmx partials, export and bulk tag actions."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.html import escape

from crm.forms import ERROR_CONSENT_PAIR, ERROR_SEGMENT_BROKEN
from crm.models import ExportJob, MemberStats, Segment, Tag
from crm.resources import MemberListResource
from crm.views import ERROR_BROKEN_PAGE_LINK
from tests.factories import IdentityFactory, MemberFactory, StoreFactory, TagFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def members():
    store = StoreFactory(code="TPE01", name="台北信義店")
    made = []
    for n in range(60):
        member = MemberFactory(member_no=f"M{n:07d}", name=f"陳{n:02d}", home_store=store)
        IdentityFactory(member=member, raw=f"09{n:08d}")
        MemberStats.objects.create(member=member, total_spend_twd=n * 1000, orders_count=n)
        made.append(member)
    return made


def test_page_lists_members_with_figures(login_as, members):
    response = login_as("bob").get("/members/", {"sort": "-spend"})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("M0000059") < html.index("M0000058")  # highest spend first
    assert "NT$59,000" in html
    assert 'data-testid="load-more"' in html


def test_a_search_is_in_the_url_and_finds_any_spelling(login_as, members):
    html = login_as("bob").get("/members/", {"q": "+886 9 0000 0007"}).content.decode()

    assert "M0000007" in html
    assert "M0000008" not in html


def test_an_htmx_search_gets_the_results_only(login_as, members):
    response = login_as("bob").get("/members/", {"q": "陳0"}, **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="member-results"')
    assert "<html" not in html


def test_load_more_appends_rows_only(login_as, members):
    client = login_as("bob")
    first = client.get("/members/").context["page"]

    response = client.get("/members/", {"after": first.next_cursor}, **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith("<tr")
    assert html.count('data-testid="member-row"') == 10  # 60 members, 50 a page


def test_a_broken_page_link_shows_the_first_page(login_as, members):
    response = login_as("bob").get("/members/", {"after": "v.12.nonsense"})

    assert response.status_code == 200
    with translation.override("zh-hant"):
        assert str(ERROR_BROKEN_PAGE_LINK) in response.content.decode()


def test_an_invalid_filter_shows_its_error_and_the_others_still_apply(login_as, members):
    response = login_as("bob").get("/members/", {"consent_channel": "line", "q": "M0000003"})

    html = response.content.decode()
    with translation.override("zh-hant"):
        assert str(ERROR_CONSENT_PAIR) in html
    assert html.count('data-testid="member-row"') == 1


def test_empty_state_says_what_to_do_next(login_as, members):
    html = login_as("bob").get("/members/", {"q": "nobody-here"}).content.decode()

    assert 'data-testid="member-empty"' in html
    assert 'href="/members/"' in html  # the way back: clear the search and filters


@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_marketers_and_admins_see_bulk_actions(login_as, members, persona):
    html = login_as(persona).get("/members/").content.decode()

    assert 'data-testid="bulk-tag-form"' in html
    assert 'data-testid="export-form"' in html


def test_analysts_see_no_bulk_actions_and_masked_names(login_as, members):
    html = login_as("carol").get("/members/").content.decode()

    assert 'data-testid="bulk-tag-form"' not in html
    assert 'data-testid="export-form"' in html  # analysts may export, masked
    assert "陳05" not in html and "陳**" in html


# --- Query counts -----------------------------------------------------------------------------

# session, user, permissions (user and groups), the role label, tags, stores and segments (the
# filter form's choices, read once), the page's members, their contacts, how many match (a
# bounded COUNT), the viewer's exports
# +1: the choices of loyalty's tier filter (crm.list_filters: one query per registered filter).
FIRST_PAGE_QUERIES = 13


def test_first_page_query_count_is_pinned(login_as, members, django_assert_num_queries):
    client = login_as("bob")
    with django_assert_num_queries(FIRST_PAGE_QUERIES):
        client.get("/members/")


def test_filtered_sorted_page_takes_the_same_queries(login_as, members, django_assert_num_queries):
    client = login_as("bob")
    tag = TagFactory(name="VIP", members=members[:5])
    store = members[0].home_store
    params = {"tag": tag.pk, "store": store.pk, "sort": "-spend", "bought": "store"}
    with django_assert_num_queries(FIRST_PAGE_QUERIES):
        client.get("/members/", params)


def test_htmx_next_page_is_five_queries_past_the_session(login_as, members):
    client = login_as("bob")
    cursor = client.get("/members/").context["page"].next_cursor
    with CaptureQueriesContext(connection) as queries:
        client.get("/members/", {"after": cursor}, **HTMX)
    page_queries = [q for q in queries if "crm_" in q["sql"]]
    assert len(page_queries) == 5  # tags, stores, segments, the rows, their contacts


# --- Bulk tags --------------------------------------------------------------------------------


def test_bulk_tag_asks_first_and_says_how_many(login_as, members):
    vip = TagFactory(name="VIP", members=members[:2])
    response = login_as("bob").post("/members/bulk-tag/?q=陳0", {"tag": vip.pk, "action": "add"})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-count="8"' in html and 'name="confirm"' in html  # 陳00–陳09 less two tagged
    assert vip.members.count() == 2  # nothing changed yet


def test_bulk_tag_add_and_remove_on_the_filtered_list(login_as, members):
    vip = TagFactory(name="VIP")
    client = login_as("bob")

    response = client.post(
        "/members/bulk-tag/?q=陳0", {"tag": vip.pk, "action": "add", "confirm": "1"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/members/?q=%E9%99%B30"
    assert set(vip.members.values_list("member_no", flat=True)) == {f"M{n:07d}" for n in range(10)}

    client.post("/members/bulk-tag/?q=陳01", {"tag": vip.pk, "action": "remove", "confirm": "1"})
    assert vip.members.count() == 9


def test_analysts_cannot_bulk_tag(login_as, members):
    vip = TagFactory(name="VIP")
    response = login_as("carol").post(
        "/members/bulk-tag/", {"tag": vip.pk, "action": "add", "confirm": "1"}
    )

    assert response.status_code == 403
    assert vip.members.count() == 0


# --- Export -----------------------------------------------------------------------------------


def _export(client, query: str = "", file_format: str = "csv"):
    return client.post(f"/members/export/{query}", {"file_format": file_format}, **HTMX)


def test_export_makes_a_job_of_the_filtered_list(
    login_as, members, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _export(login_as("bob"), "?store=" + str(members[0].home_store_id))

    job = ExportJob.objects.get()
    assert response.status_code == 200
    assert 'data-testid="export-job"' in response.content.decode()
    assert (job.total, job.unmask, job.file_format) == (60, True, "csv")
    assert len(callbacks) == 1  # the task, sent once committed


def test_export_status_polls_until_done(login_as, members):
    client = login_as("bob")
    _export(client)
    job = ExportJob.objects.get()

    html = client.get(f"/members/exports/{job.pk}/", **HTMX).content.decode()

    assert 'hx-trigger="every 1s"' in html


def test_only_the_asker_sees_an_export(login_as, members):
    _export(login_as("bob"))
    job = ExportJob.objects.get()

    assert login_as("alice").get(f"/members/exports/{job.pk}/", **HTMX).status_code == 404


@pytest.mark.parametrize(
    ("persona", "q", "name", "phone"),
    # The analyst may search by member number only (issue 9), the marketer by name too.
    [("bob", "陳07", "陳07", "0900-000-007"), ("carol", "M0000007", "陳**", "0900-***-007")],
)
def test_export_runs_in_a_worker_masked_for_analysts(
    login_as, members, celery_worker, persona, q, name, phone
):
    from tests.conftest import wait_for

    client = login_as(persona)
    _export(client, f"?q={q}")
    job = ExportJob.objects.get()
    wait_for(lambda: ExportJob.objects.get(pk=job.pk).finished)

    download = client.get(f"/members/exports/{job.pk}/download/")
    names = dict(
        zip(
            MemberListResource().get_export_headers(),
            MemberListResource(raw=True).get_export_headers(),
            strict=True,
        )
    )
    text = b"".join(download.streaming_content).decode("utf-8-sig")
    rows = [{names[k]: v for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]
    assert [(row["member_no"], row["name"], row["phone"]) for row in rows] == [
        ("M0000007", name, phone)
    ]
    assert (rows[0]["total_spend_twd"], rows[0]["orders"], rows[0]["email"]) == ("7000", "7", "")


def test_tags_stay_put_when_the_export_fails_to_start(login_as):
    response = login_as("bob").post("/members/export/", {"file_format": "pdf"})

    assert response.status_code == 302
    assert not ExportJob.objects.exists()
    assert Tag.objects.count() == 0


def test_a_search_adds_one_query_the_identifier_lookup(
    login_as, members, django_assert_num_queries
):
    client = login_as("bob")
    with django_assert_num_queries(FIRST_PAGE_QUERIES + 1):
        client.get("/members/", {"q": "0900-000-007"})


# --- Segments ---------------------------------------------------------------------------------

WOMEN = {"op": "and", "rules": [{"rule": "gender", "operator": "is", "value": "female"}]}


@pytest.fixture
def women(members):
    for member in members[:3]:
        member.gender = "male"
        member.save(update_fields=["gender"])
    return Segment.objects.create(name="Women", definition=WOMEN)


def test_filter_by_segment(login_as, women, members):
    html = login_as("bob").get("/members/", {"segment": women.pk, "q": "陳0"}).content.decode()

    assert html.count('data-testid="member-row"') == 7  # 陳00–陳09 less three men
    assert "M0000000" not in html


def test_a_segment_with_broken_rules_says_so(login_as, members):
    broken = Segment.objects.create(name="Broken", definition={"op": "and", "rules": [{}]})
    response = login_as("bob").get("/members/", {"segment": broken.pk})

    with translation.override("zh-hant"):
        assert escape(str(ERROR_SEGMENT_BROKEN)) in response.content.decode()


def test_bulk_tag_on_a_segment(login_as, women, members):
    vip = TagFactory(name="VIP")
    login_as("bob").post(
        f"/members/bulk-tag/?segment={women.pk}", {"tag": vip.pk, "action": "add", "confirm": "1"}
    )

    assert vip.members.count() == 57
