"""Formatting shared by every page: NT$ amounts, channel badges, Taipei dates."""

from datetime import datetime

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone
from django.utils.html import format_html

from omnichannel import channels
from omnichannel.channels import Channel, channel_icon

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
