from urllib.parse import unquote

from django.urls import path, register_converter

from crm import views, views_profile


class MemberNoConverter:
    """A member number (OC000000001, M0000001, or whatever the brand's own list holds: A/1,
    M#12, 會員 7). Numbers are stored in capitals (crm.normalize.normalize_card), so a path
    segment with a lower-case letter is no member number, and words like "export/" stay free for
    other pages under /members/.

    Any number fits in one path segment: `to_url` escapes "%" and "/" (reverse() then quotes
    the rest, "?", "#" and spaces included), so /members/A%252F1/ is member A/1 and a proxy that
    merges slashes cannot change which member a link opens. A number typed with a bare "/"
    (/members/A/1/) also resolves: the upper-case pattern leaves the lower-case words of the
    member's own pages (edit/, tags/…) outside it.
    Control characters (NUL, which PostgreSQL cannot even compare with) are no member
    number: such a URL is a 404 before any query.
    """

    regex = r"[^a-z\x00-\x1f\x7f]{1,60}?"

    def to_python(self, value: str) -> str:
        number = unquote(value)
        if (
            len(number) > MEMBER_NO_MAX
            or not number.strip("/")
            or any(ord(c) < 32 or ord(c) == 127 for c in number)  # "%2500" unquotes to NUL
        ):
            raise ValueError("not a member number")
        return number

    def to_url(self, value: str) -> str:
        return str(value).replace("%", "%25").replace("/", "%2F")


MEMBER_NO_MAX = 20  # crm.models.Member.member_no (the URLconf does not import models)
register_converter(MemberNoConverter, "member_no")

app_name = "crm"
urlpatterns = [
    path("", views.member_list, name="member_list"),
    path("export/", views.member_export, name="member_export"),
    path("exports/<int:pk>/", views.member_export_status, name="member_export_status"),
    path("exports/<int:pk>/download/", views.member_export_download, name="member_export_download"),
    path("bulk-tag/", views.member_bulk_tag, name="member_bulk_tag"),
    # The 360° profile and its actions.
    path("<member_no:member_no>/", views_profile.member_detail, name="member_detail"),
    path("<member_no:member_no>/edit/", views_profile.member_edit, name="member_edit"),
    path(
        "<member_no:member_no>/consent/",
        views_profile.member_consent_record,
        name="member_consent_record",
    ),
    path(
        "<member_no:member_no>/notes/", views_profile.member_note_add_view, name="member_note_add"
    ),
    path("<member_no:member_no>/tags/", views_profile.member_tag_add_view, name="member_tag_add"),
    path(
        "<member_no:member_no>/tags/<int:tag_id>/remove/",
        views_profile.member_tag_remove_view,
        name="member_tag_remove",
    ),
    path("<member_no:member_no>/merge/", views_profile.member_merge, name="member_merge"),
    path(
        "<member_no:member_no>/merges/<int:merge_id>/undo/",
        views_profile.member_unmerge_view,
        name="member_unmerge",
    ),
    path("<member_no:member_no>/forget/", views_profile.member_forget_view, name="member_forget"),
]
