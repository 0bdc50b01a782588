"""Numbers of the campaign report as the page shows them: rates in percent, ROI, a funnel cell."""

from django import template

from omnichannel.templatetags.ui import number, twd

register = template.Library()


@register.filter
def percent(value) -> str:
    """0.0412 → 4.1 %; None (no denominator yet) → —."""
    if value is None:
        return "—"
    return f"{value * 100:.1f} %"


@register.filter
def roi(value) -> str:
    """1.25 → +125 %; None (no cost) → —."""
    if value is None:
        return "—"
    return f"{value * 100:+,.0f} %"


@register.filter
def funnel_value(value, kind: str) -> str:
    """A funnel cell by its line's kind (campaigns.report.FunnelLine)."""
    if kind == "rate":
        return percent(value)
    if kind == "roi":
        return roi(value)
    if kind == "twd":
        return twd(value)
    return number(value)
