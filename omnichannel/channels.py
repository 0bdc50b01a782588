"""The one Channel vocabulary every app shares (DESIGN.md §2).

Sales and contact points say where a customer bought or showed up; messaging channels say how
we reach them. Colours and icons live here too so tables, timelines and charts agree.
"""

from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    STORE = "store", _("Store")
    WEB = "web", _("Web shop")
    MARKETPLACE = "marketplace", _("Marketplace")
    APP = "app", _("App")
    LINE_SHOP = "line_shop", _("LINE shopping")
    LINE = "line", _("LINE")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    PUSH = "push", _("Push")
    # The member card in Apple Wallet or Google Wallet: a contact point (cards added and removed
    # are touchpoints), neither a sales nor a messaging channel.
    WALLET = "wallet", _("Wallet card")


SALES_CHANNELS: tuple[Channel, ...] = (
    Channel.STORE,
    Channel.WEB,
    Channel.MARKETPLACE,
    Channel.APP,
    Channel.LINE_SHOP,
)
ONLINE_SALES_CHANNELS: tuple[Channel, ...] = (
    Channel.WEB,
    Channel.MARKETPLACE,
    Channel.APP,
    Channel.LINE_SHOP,
)
OFFLINE_SALES_CHANNELS: tuple[Channel, ...] = (Channel.STORE,)
MESSAGING_CHANNELS: tuple[Channel, ...] = (Channel.LINE, Channel.EMAIL, Channel.SMS, Channel.PUSH)


class SalesChannel(models.TextChoices):
    STORE = Channel.STORE.value, Channel.STORE.label
    WEB = Channel.WEB.value, Channel.WEB.label
    MARKETPLACE = Channel.MARKETPLACE.value, Channel.MARKETPLACE.label
    APP = Channel.APP.value, Channel.APP.label
    LINE_SHOP = Channel.LINE_SHOP.value, Channel.LINE_SHOP.label


class MessagingChannel(models.TextChoices):
    LINE = Channel.LINE.value, Channel.LINE.label
    EMAIL = Channel.EMAIL.value, Channel.EMAIL.label
    SMS = Channel.SMS.value, Channel.SMS.label
    PUSH = Channel.PUSH.value, Channel.PUSH.label


# One colour and one Bootstrap Icons glyph per channel, used by every table, timeline and chart.
CHANNEL_STYLE: dict[str, tuple[str, str]] = {
    Channel.STORE: ("#6f42c1", "shop"),
    Channel.WEB: ("#0d6efd", "globe2"),
    Channel.MARKETPLACE: ("#fd7e14", "bag"),
    Channel.APP: ("#20c997", "phone"),
    Channel.LINE_SHOP: ("#00b900", "cart"),
    Channel.LINE: ("#06c755", "line"),
    Channel.EMAIL: ("#d63384", "envelope"),
    Channel.SMS: ("#0dcaf0", "chat-dots"),
    Channel.PUSH: ("#ffc107", "bell"),
    Channel.WALLET: ("#212529", "wallet2"),
}


def channel_colour(channel: str) -> str:
    return CHANNEL_STYLE.get(channel, ("#6c757d", "question-circle"))[0]


def channel_icon(channel: str) -> str:
    return CHANNEL_STYLE.get(channel, ("#6c757d", "question-circle"))[1]


def channel_from_label(text: str) -> Channel | None:
    """A Channel from its value or its label in any language we ship ("store", "Store", "門市")."""
    needle = text.strip().lower()
    for language in ("en", "zh-hant"):
        with translation.override(language):
            for channel in Channel:
                if needle in (channel.value, str(channel.label).lower()):
                    return channel
    return None
