"""How a KPI value reads: NT$, counts, rates, and the change against the period before."""

from django import template
from django.utils.translation import gettext

from omnichannel.kpis.registry import Tile
from omnichannel.templatetags.ui import number, twd

register = template.Library()


@register.filter
def kpi_value(value, unit: str = "count") -> str:
    """A value in its unit; an em dash when there is none (a rate of nothing)."""
    if value is None or value == "":
        return "—"
    if unit == "text":
        return str(value)
    if unit == "twd":
        return twd(round(value))
    if unit == "percent":
        return f"{value:,.1f}%"
    if unit == "number":
        return f"{value:,.1f}"
    if unit == "ratio":
        return f"{value:,.2f}×"
    return number(round(value))


@register.simple_tag
def kpi_delta(tile: Tile) -> dict | None:
    """The change against the period before: text and whether it is good news. A rate
    changes in percentage points, anything else in percent of the previous value."""
    if tile.previous is None or tile.value is None:
        return None
    change = tile.value - tile.previous
    if tile.unit == "percent":
        text = gettext("%(sign)s%(points).1f pts") % {
            "sign": "+" if change >= 0 else "−",
            "points": abs(change),
        }
    elif tile.previous == 0:
        text = gettext("new") if change else "±0%"
    else:
        percent = change * 100 / abs(tile.previous)
        text = f"{'+' if percent >= 0 else '−'}{abs(percent):,.1f}%"
    good = change < 0 if tile.lower_is_better else change > 0
    return {"text": text, "good": good and change != 0, "bad": (not good) and change != 0}


@register.filter
def cell(value, unit: str = "") -> str:
    """A table cell: by its column's unit (text as it is)."""
    if unit in ("", "text"):
        return "" if value is None else str(value)
    return kpi_value(value, unit)


@register.filter
def at(sequence, index: int):
    """sequence[index], or "" past its end (a table row's unit)."""
    try:
        return sequence[index]
    except (IndexError, TypeError):
        return ""
