"""What codes stored in the data read as on a page: touchpoint kinds and source codes.

The data keeps stable English codes (`page_view`, `import:members`, `manual`); pages, the admin
and exports show these labels in the user's language. A code nobody named yet (a touchpoint kind
a new API client sends, an API key's name) is still shown readably rather than refused.
"""

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from omnichannel.channels import Channel

TOUCHPOINT_KIND_LABELS: dict[str, Promise] = {
    "store_visit": _("Store visit"),
    "page_view": _("Page view"),
    "product_view": _("Product view"),
    "cart_add": _("Added to cart"),
    "search": _("Search"),
    "line_follow": _("Followed on LINE"),
    "line_block": _("Blocked on LINE"),
    "app_open": _("App opened"),
    "app_install": _("App installed"),
    "push_opened": _("Push opened"),
    "message_sent": _("Message sent"),
    "message_opened": _("Message opened"),
    "link_clicked": _("Link clicked"),
    "unsubscribed": _("Unsubscribed"),
    "wallet_added": _("Added the member card to a wallet"),
    "wallet_removed": _("Removed the member card from a wallet"),
}

# The wallet a wallet_added / wallet_removed touchpoint names (its properties' "wallet").
WALLET_LABELS: dict[str, Promise] = {"apple": _("Apple Wallet"), "google": _("Google Wallet")}

MANUAL_SOURCE = "manual"
UNSUBSCRIBE_SOURCE = "unsubscribe"  # a message's unsubscribe link (campaigns)
IMPORT_SOURCE_PREFIX = "import:"
API_SOURCE_PREFIX = "api:"


def touchpoint_kind_label(kind: str) -> str:
    """`page_view` -> "Page view" (translated); an unknown kind reads as words."""
    label = TOUCHPOINT_KIND_LABELS.get(kind)
    return str(label) if label is not None else kind.replace("_", " ").capitalize()


def touchpoint_detail(kind: str, properties: dict | None) -> str:
    """A line under the touchpoint's label: the wallet a card went in or out of."""
    if kind.startswith("wallet_") and isinstance(properties, dict):
        label = WALLET_LABELS.get(str(properties.get("wallet", "")))
        if label is not None:
            return str(label)
    return ""


def source_label(source: str) -> str:
    """A source code as a person reads it, in the active language.

    `store` -> "Store", `manual` -> "By hand", `import:members` -> "Import: Member list",
    `api:pos-taipei` -> "API: pos-taipei"; anything else is shown as it is.
    """
    if not source:
        return ""
    if source in Channel.values:
        return str(Channel(source).label)
    if source == MANUAL_SOURCE:
        return gettext("By hand")
    if source == UNSUBSCRIBE_SOURCE:
        return gettext("Unsubscribe link")
    if source.startswith(IMPORT_SOURCE_PREFIX):
        from crm.imports.presets import PRESETS  # the import machinery only when needed

        name = source.removeprefix(IMPORT_SOURCE_PREFIX)
        preset = PRESETS[name].label if name in PRESETS else name
        return gettext("Import: %(preset)s") % {"preset": preset}
    if source.startswith(API_SOURCE_PREFIX):
        return gettext("API: %(key)s") % {"key": source.removeprefix(API_SOURCE_PREFIX)}
    return source
