"""The tiers page /loyalty/tiers/: Marketers edit the tiers and the downgrade grace days,
Analysts read them. One form: without JavaScript it posts whole and comes back with every
error beside its field and everything typed kept; with htmx the same post swaps the form.
A save re-evaluates every member's tier (reason "rules"), in a background task when many.
"""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from loyalty.forms_tiers import GraceForm, TierFormSet, tier_initial
from loyalty.models import Programme
from loyalty.selectors_tiers import tiers_with_members
from loyalty.services.tiers import tiers_save
from omnichannel.htmx import htmx_partial, redirect_htmx, wants_partial
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import MissingPermission, permission_required

VIEW = "loyalty.view_tier"
CHANGE = "loyalty.change_tier"
TEMPLATE = "loyalty/tiers.html"


@require_http_methods(["GET", "POST"])
@permission_required(VIEW, raise_exception=True)
def tiers_page(request: HtmxHttpRequest) -> HttpResponse:
    can_edit = request.user.has_perm(CHANGE)
    tiers = tiers_with_members()
    status = 200
    if request.method == "POST":
        if not can_edit:
            raise MissingPermission((CHANGE,))
        formset = TierFormSet(request.POST, prefix="tiers")
        grace = GraceForm(request.POST)
        if formset.is_valid() and grace.is_valid():
            outcome = tiers_save(
                tiers=formset.tiers(),
                removed=formset.removed(),
                grace_days=grace.cleaned_data["downgrade_grace_days"],
                actor_id=request.user.pk,
            )
            messages.success(
                request,
                _("Tiers saved. Every member's tier was checked again.")
                if outcome == "done"
                else _("Tiers saved. Members' tiers are being checked again in the background."),
            )
            return redirect_htmx(request, reverse("loyalty:tiers"))
        # htmx swaps only 2xx answers; a plain post gets the page with a 400.
        status = 200 if wants_partial(request) else 400
    else:
        formset = TierFormSet(prefix="tiers", initial=tier_initial(tiers))
        grace = GraceForm(
            initial={"downgrade_grace_days": Programme.current().downgrade_grace_days}
        )
    members = {tier.pk: tier.members for tier in tiers}
    rows = [(form, members.get(_int(form["id"].value()))) for form in formset.forms]
    context = {
        "formset": formset,
        "rows": rows,
        "grace": grace,
        "tiers": tiers,
        "can_edit": can_edit,
    }
    return render(request, htmx_partial(request, TEMPLATE, "tiers-form"), context, status=status)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
