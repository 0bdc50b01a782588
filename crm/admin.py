from django.contrib import admin

from crm.models import Consent, Identity, Member, Order, Store, Tag, Touchpoint


class BoundedAdmin(admin.ModelAdmin):
    # No COUNT(*) over a million rows on every list page.
    show_full_result_count = False
    list_per_page = 50


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("kind", "value", "source", "first_seen_at", "last_seen_at")


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "city", "opened_on")
    search_fields = ("code", "name", "city")


@admin.register(Member)
class MemberAdmin(BoundedAdmin):
    list_display = ("member_no", "name", "status", "acquisition_channel", "home_store", "joined_at")
    list_filter = ("status", "acquisition_channel", "gender")
    list_select_related = ("home_store",)
    search_fields = ("=member_no", "^name", "=identities__value")
    raw_id_fields = ("home_store", "merged_into")
    inlines = (IdentityInline,)
    date_hierarchy = "joined_at"


@admin.register(Identity)
class IdentityAdmin(BoundedAdmin):
    list_display = ("kind", "value", "member", "source", "last_seen_at")
    list_filter = ("kind", "source")
    list_select_related = ("member",)
    search_fields = ("=value", "=member__member_no")
    raw_id_fields = ("member",)


@admin.register(Consent)
class ConsentAdmin(BoundedAdmin):
    list_display = ("member", "channel", "state", "source", "at")
    list_filter = ("channel", "state")
    list_select_related = ("member",)
    search_fields = ("=member__member_no",)
    raw_id_fields = ("member",)


@admin.register(Order)
class OrderAdmin(BoundedAdmin):
    list_display = (
        "external_no",
        "channel",
        "member",
        "store",
        "amount_twd",
        "status",
        "placed_at",
    )
    list_filter = ("channel", "status")
    list_select_related = ("member", "store")
    search_fields = ("=external_no", "=member__member_no")
    raw_id_fields = ("member", "store", "returns_order")


@admin.register(Touchpoint)
class TouchpointAdmin(BoundedAdmin):
    list_display = ("member", "channel", "kind", "at")
    list_filter = ("channel", "kind")
    list_select_related = ("member",)
    raw_id_fields = ("member",)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    filter_horizontal = ()
    raw_id_fields = ("members",)
