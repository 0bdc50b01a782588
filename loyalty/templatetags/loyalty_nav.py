"""{% loyalty_tabs %}: the loyalty pages' tabs (loyalty/navigation.py), on every loyalty page."""

from django import template

from loyalty.navigation import loyalty_tabs as tabs_for

register = template.Library()


@register.inclusion_tag("loyalty/_tabs.html", takes_context=True)
def loyalty_tabs(context, active: str = "") -> dict:
    """`active`: the tab's URL name when the page is not itself a tab (a member's history)."""
    request = context["request"]
    match = request.resolver_match
    current = active or (match.view_name if match else "")
    return {"tabs": tabs_for(user=request.user, current=current)}
