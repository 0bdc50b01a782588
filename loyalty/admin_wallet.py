"""The wallet cards in the admin: what each member holds and which devices follow it, read-only.

The services write these rows (issuing a card, Apple's web service registering a device, the
push job); an operator looks, never edits. Nothing secret is shown: a card's authentication
token and a device's push token are masked to their last four characters. Members are shown by
number; lists are bounded and searched by member number or identifier (crm's member search),
or by a card's serial number or a device id (both indexed).
"""

from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.admin.search import MemberSearchMixin
from loyalty.admin import ReadOnlyAdmin
from loyalty.models import WalletDeviceRegistration, WalletPass
from omnichannel.admin_tools import choices_filter


def masked(secret: str) -> str:
    return f"…{secret[-4:]}" if len(secret) > 8 else "…"


@admin.register(WalletPass)
class WalletPassAdmin(MemberSearchMixin, ReadOnlyAdmin):
    list_display = (
        "member_no",
        "platform",
        "serial",
        "installed",
        "updated_at",
        "changed_at",
        "pushed_at",
    )
    list_filter = (
        choices_filter("platform", _("wallet"), WalletPass.Platform.choices),
        "installed",
    )
    list_select_related = ("member",)
    ordering = ("-pk",)
    sortable_by = ()
    search_help_text = _("A member number or identifier, or a card's serial number.")
    fields = (
        "member_no",
        "platform",
        "serial",
        "token",
        "created_at",
        "updated_at",
        "changed_at",
        "pushed_at",
        "change_message",
        "installed",
        "installed_at",
        "removed_at",
    )
    readonly_fields = fields

    def extra_search_q(self, term: str) -> Q:
        return Q(serial=term.strip().lower())  # unique: an index lookup

    @admin.display(description=_("member number"))
    def member_no(self, wallet_pass: WalletPass) -> str:
        return wallet_pass.member.member_no

    @admin.display(description=_("authentication token"))
    def token(self, wallet_pass: WalletPass) -> str:
        return masked(wallet_pass.authentication_token)


@admin.register(WalletDeviceRegistration)
class WalletDeviceRegistrationAdmin(MemberSearchMixin, ReadOnlyAdmin):
    list_display = ("device_library_id", "member_no", "platform", "serial", "created_at")
    list_filter = (("created_at", admin.DateFieldListFilter),)
    list_select_related = ("wallet_pass__member",)
    ordering = ("-pk",)
    sortable_by = ()
    member_search_fields = ("wallet_pass__member",)
    search_fields = ("=wallet_pass__member__member_no",)
    search_help_text = _("A member number or identifier, or a device id.")
    fields = ("device_library_id", "member_no", "platform", "serial", "push", "created_at")
    readonly_fields = fields

    def extra_search_q(self, term: str) -> Q:
        return Q(device_library_id=term.strip())  # the unique (device, pass) index

    @admin.display(description=_("member number"))
    def member_no(self, registration: WalletDeviceRegistration) -> str:
        return registration.wallet_pass.member.member_no

    @admin.display(description=_("wallet"))
    def platform(self, registration: WalletDeviceRegistration) -> str:
        return registration.wallet_pass.get_platform_display()

    @admin.display(description=_("serial number"))
    def serial(self, registration: WalletDeviceRegistration) -> str:
        return registration.wallet_pass.serial

    @admin.display(description=_("push token"))
    def push(self, registration: WalletDeviceRegistration) -> str:
        return masked(registration.push_token)
