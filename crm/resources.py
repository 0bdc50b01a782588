"""django-import-export resources of the crm models: the columns of the admin's exports and imports.

Exports mask personal data unless the resource is made with `unmask=True` (the admin passes the
viewer's `crm.unmask_personal_data`), with the same masks as the pages (crm/pii.py).

Only reference tables (stores, tags) import through a plain resource. Members and orders never
do: a row of theirs must go through identity resolution, so the admin sends those files to the
preset import (ImportJob, crm/services/import_jobs.py) instead; see crm/admin.py.
"""

from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from import_export import fields, resources, widgets

from crm import pii
from crm.models import (
    ApiKey,
    Consent,
    ErasureLog,
    Identity,
    ImportJob,
    Member,
    MergeLog,
    Order,
    Store,
    Tag,
    Touchpoint,
)

EXPORT_CHUNK_SIZE = 2_000
MASKED = "***"


def mask_identifier(kind: str, value: str) -> str:
    """An identifier as someone without crm.unmask_personal_data may see it."""
    if not value:
        return value
    if kind == Identity.Kind.PHONE:
        return pii.mask_phone(value)
    if kind == Identity.Kind.EMAIL:
        return pii.mask_email(value)
    return pii.mask_token(value)


class CrmResource(resources.ModelResource):
    """A resource that knows whether its reader may see personal data.

    `export_select_related` names the relations its columns read, so an export is one query
    per chunk of rows, not one per row.
    """

    export_select_related: tuple[str, ...] = ()

    def __init__(self, *, unmask: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.unmask = unmask

    def filter_export(self, queryset, **kwargs):
        if self.export_select_related:
            queryset = queryset.select_related(*self.export_select_related)
        return queryset

    class Meta:
        chunk_size = EXPORT_CHUNK_SIZE


class StoreResource(CrmResource):
    """Stores by code: an import adds new codes and updates the name and city of known ones."""

    opened_on = fields.Field(
        attribute="opened_on", column_name="opened_on", widget=widgets.DateWidget("%Y-%m-%d")
    )

    class Meta(CrmResource.Meta):
        model = Store
        fields = ("code", "name", "city", "opened_on")
        import_id_fields = ("code",)
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True


class TagResource(CrmResource):
    """Tag names; which members carry a tag is not imported (segments and rules decide that)."""

    class Meta(CrmResource.Meta):
        model = Tag
        fields = ("name",)
        import_id_fields = ("name",)
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True


class MemberResource(CrmResource):
    export_select_related = ("home_store", "merged_into")
    member_no = fields.Field(attribute="member_no", column_name="member_no")
    name = fields.Field(attribute="name", column_name="name")
    birthday = fields.Field(attribute="birthday", column_name="birthday")
    home_store = fields.Field(attribute="home_store__code", column_name="home_store")
    merged_into = fields.Field(attribute="merged_into__member_no", column_name="merged_into")

    class Meta(CrmResource.Meta):
        model = Member
        fields = (
            "member_no",
            "name",
            "birthday",
            "gender",
            "home_store",
            "joined_at",
            "acquisition_channel",
            "status",
            "merged_into",
        )
        export_order = fields

    def dehydrate_name(self, member: Member) -> str:
        return member.name if self.unmask else pii.mask_text(member.name)

    def dehydrate_birthday(self, member: Member) -> str:
        if member.birthday is None:
            return ""
        return member.birthday.isoformat() if self.unmask else pii.mask_birthday(member.birthday)


class IdentityResource(CrmResource):
    export_select_related = ("member",)
    member = fields.Field(attribute="member__member_no", column_name="member_no")
    value = fields.Field(attribute="value", column_name="value")

    class Meta(CrmResource.Meta):
        model = Identity
        fields = ("member", "kind", "value", "source", "first_seen_at", "last_seen_at")
        export_order = fields

    def dehydrate_value(self, identity: Identity) -> str:
        return identity.value if self.unmask else mask_identifier(identity.kind, identity.value)


class ConsentResource(CrmResource):
    export_select_related = ("member",)
    member = fields.Field(attribute="member__member_no", column_name="member_no")

    class Meta(CrmResource.Meta):
        model = Consent
        fields = ("member", "channel", "state", "source", "at")
        export_order = fields


class OrderResource(CrmResource):
    """Orders as the admin exports them. Not for import: see the module docstring."""

    export_select_related = ("member", "store")
    member = fields.Field(attribute="member__member_no", column_name="member_no")
    store = fields.Field(attribute="store__code", column_name="store")

    class Meta(CrmResource.Meta):
        model = Order
        fields = (
            "channel",
            "external_no",
            "member",
            "store",
            "amount_twd",
            "placed_at",
            "status",
            "returns_external_no",
        )
        export_order = fields


class TouchpointResource(CrmResource):
    export_select_related = ("member",)
    member = fields.Field(attribute="member__member_no", column_name="member_no")

    class Meta(CrmResource.Meta):
        model = Touchpoint
        fields = ("member", "channel", "kind", "at", "properties")
        export_order = fields


class MergeLogResource(CrmResource):
    export_select_related = ("survivor", "merged", "actor")
    survivor = fields.Field(attribute="survivor__member_no", column_name="survivor")
    merged = fields.Field(attribute="merged__member_no", column_name="merged")
    actor = fields.Field(attribute="actor__username", column_name="actor")
    matched_keys = fields.Field(attribute="matched_keys", column_name="matched_keys")

    class Meta(CrmResource.Meta):
        model = MergeLog
        fields = (
            "id",
            "at",
            "survivor",
            "merged",
            "matched_keys",
            "source",
            "reason",
            "actor",
            "undone_at",
        )
        export_order = fields

    def dehydrate_matched_keys(self, log: MergeLog) -> str:
        """The identifiers that matched, masked like any other identifier ("phone:0912-***-678")."""
        keys = []
        for key in log.matched_keys or ():
            kind, sep, value = str(key).partition(":")
            if sep and not self.unmask:
                value = mask_identifier(kind, value)
            keys.append(f"{kind}{sep}{value}")
        return " ".join(keys)


class ErasureLogResource(CrmResource):
    export_select_related = ("member", "actor")
    member = fields.Field(attribute="member__member_no", column_name="member_no")
    actor = fields.Field(attribute="actor__username", column_name="actor")

    class Meta(CrmResource.Meta):
        model = ErasureLog
        fields = ("member", "at", "actor", "reason", "counts")
        export_order = fields


class ApiKeyResource(CrmResource):
    """Which systems hold keys; the secret's hash never leaves the database."""

    export_select_related = ("created_by",)
    created_by = fields.Field(attribute="created_by__username", column_name="created_by")

    class Meta(CrmResource.Meta):
        model = ApiKey
        fields = (
            "name",
            "channel",
            "prefix",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        )
        export_order = fields


class ImportJobResource(CrmResource):
    export_select_related = ("created_by",)
    created_by = fields.Field(attribute="created_by__username", column_name="created_by")

    class Meta(CrmResource.Meta):
        model = ImportJob
        fields = (
            "id",
            "original_name",
            "preset",
            "strict",
            "status",
            "rows",
            "imported",
            "failed",
            "warnings",
            "created_by",
            "created_at",
            "finished_at",
        )
        export_order = fields


def _first_identity(kind: str) -> Subquery:
    """A member's first identifier of a kind: one probe of the (member, kind) index per row."""
    first = Identity.objects.filter(member=OuterRef("pk"), kind=kind)
    return Subquery(first.order_by("first_seen_at", "pk").values("value")[:1])


class MemberListResource(MemberResource):
    """The member list's export (/members/): the member columns, a phone and an email (masked
    unless unmasked), and the figures (zeros for a member without a figures row).

    Every added column is an annotation of the one query, not a prefetch: the rows stream
    from a server-side cursor (a prefetch would make django-import-export page by OFFSET).
    """

    phone = fields.Field(attribute="export_phone", column_name="phone")
    email = fields.Field(attribute="export_email", column_name="email")
    total_spend_twd = fields.Field(
        attribute="export_total_spend",
        column_name="total_spend_twd",
        widget=widgets.IntegerWidget(),
    )
    orders = fields.Field(
        attribute="export_orders", column_name="orders", widget=widgets.IntegerWidget()
    )
    last_purchase_at = fields.Field(
        attribute="export_last_purchase",
        column_name="last_purchase_at",
        widget=widgets.DateTimeWidget(),
    )

    class Meta(MemberResource.Meta):
        fields = (
            *MemberResource.Meta.fields,
            "phone",
            "email",
            "total_spend_twd",
            "orders",
            "last_purchase_at",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return (
            super()
            .filter_export(queryset, **kwargs)
            .annotate(
                export_phone=_first_identity(Identity.Kind.PHONE),
                export_email=_first_identity(Identity.Kind.EMAIL),
                export_total_spend=Coalesce(F("stats__total_spend_twd"), 0),
                export_orders=Coalesce(F("stats__orders_count"), 0),
                export_last_purchase=F("stats__last_purchase_at"),
            )
        )

    def dehydrate_phone(self, member: Member) -> str:
        value = member.export_phone or ""
        return value if self.unmask else mask_identifier(Identity.Kind.PHONE, value)

    def dehydrate_email(self, member: Member) -> str:
        value = member.export_email or ""
        return value if self.unmask else mask_identifier(Identity.Kind.EMAIL, value)
