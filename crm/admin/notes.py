"""Notes written on the 360° profile."""

from django.contrib import admin

from crm.admin.base import BoundedListAdmin
from crm.admin.search import MemberSearchMixin
from crm.models import MemberNote


@admin.register(MemberNote)
class MemberNoteAdmin(MemberSearchMixin, BoundedListAdmin):
    """Notes written on the 360° profile; the body (free text, maybe personal) is not listed."""

    masked_list_display = {"member": "member_number"}
    list_display = ("member", "author", "at")
    list_filter = (("at", admin.DateFieldListFilter),)
    list_select_related = ("member", "author")
    sortable_by = ()
    raw_id_fields = ("member", "author")
