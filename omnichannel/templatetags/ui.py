"""Formatting shared by every page: NT$ amounts, channel badges, Taipei dates."""

from datetime import datetime

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.translation import gettext

from omnichannel import channels
from omnichannel.channels import Channel, channel_icon
from omnichannel.counting import RowCount

register = template.Library()


@register.filter
def twd(amount) -> str:
    """1280 → NT$1,280 (whole dollars; negative for returns)."""
    if amount is None or amount == "":
        return ""
    amount = int(amount)
    sign = "-" if amount < 0 else ""
    return f"{sign}NT${intcomma(abs(amount), use_l10n=False)}"


@register.filter
def number(value) -> str:
    if value is None:
        return ""
    return intcomma(value, use_l10n=False)


@register.filter
def taipei(value) -> str:
    """2025/03/12 14:05 in the current time zone (Asia/Taipei)."""
    if not value:
        return ""
    if not isinstance(value, datetime):
        return value.strftime("%Y/%m/%d")  # a date has no time to show
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return timezone.localtime(value).strftime("%Y/%m/%d %H:%M")


@register.filter
def taipei_date(value) -> str:
    """2025/03/12: the day alone, in Asia/Taipei, where a column has no room for the time."""
    if not value:
        return ""
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        value = timezone.localtime(value)
    return value.strftime("%Y/%m/%d")


@register.filter
def channel_colour(channel: str) -> str:
    return channels.channel_colour(channel)


@register.simple_tag
def channel_badge(channel: str) -> str:
    try:
        label = Channel(channel).label
    except ValueError:
        label = channel
    return format_html(
        '<span class="badge channel-badge" data-channel-colour="{}">'
        '<i class="bi bi-{}" aria-hidden="true"></i> {}</span>',
        channels.channel_colour(channel),
        channel_icon(channel),
        label,
    )


def _two_figures(value: int) -> int:
    """1,234,567 -> 1,200,000: an estimate shows no more precision than it has."""
    factor = 10 ** max(len(str(value)) - 2, 0)
    return round(value / factor) * factor


def _short(value: float, unit: str) -> str:
    text = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
    return f"{text}{unit}"


@register.filter
def row_count(count: RowCount) -> str:
    """A count as the list shows it: exact (1,234), or estimated: "about 1.2M", "約 120 萬"."""
    if not count.estimated:
        return intcomma(count.value, use_l10n=False)
    value = _two_figures(max(count.value, 0))
    if (translation.get_language() or "").startswith("zh"):
        if value >= 100_000_000:
            shown = _short(value / 100_000_000, " 億")
        elif value >= 10_000:
            shown = _short(value / 10_000, " 萬")
        else:
            shown = intcomma(value, use_l10n=False)
    elif value >= 1_000_000:
        shown = _short(value / 1_000_000, "M")
    elif value >= 1_000:
        shown = _short(value / 1_000, "K")
    else:
        shown = str(value)
    return gettext("about %(count)s") % {"count": shown}
