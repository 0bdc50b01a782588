"""The builder's links panel: the links found in a campaign's saved content, each with a
"tracked" checkbox and the tags a click puts on the member (campaigns.services.tracking).

GET /campaigns/<pk>/links/ shows the panel (the builder loads it with htmx; without JavaScript
it is a page of its own); POST saves the choices and answers the panel again.
"""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from campaigns.models import Campaign
from campaigns.selectors import campaign_tracked_links
from campaigns.services.tracking import LinksLocked, tracked_links_update
from crm.models import Tag
from omnichannel.htmx import htmx_partial
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import permission_required

TEMPLATE = "campaigns/campaign_links.html"
LINKS_SAVED = _("Links saved.")


def _ids(values) -> list[int]:
    return [int(value) for value in values if str(value).isdigit()]


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@permission_required("campaigns.view_campaign", raise_exception=True)
def campaign_links(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    can_change = request.user.has_perm("campaigns.change_campaign") and campaign.is_editable
    saved = False
    error = ""
    if request.method == "POST":
        if not request.user.has_perm("campaigns.change_campaign"):
            return HttpResponse(status=403)
        tracked = set(_ids(request.POST.getlist("tracked")))
        choices = {
            link_id: (link_id in tracked, _ids(request.POST.getlist(f"tags_{link_id}")))
            for link_id in _ids(request.POST.getlist("link"))
        }
        try:
            tracked_links_update(campaign=campaign, choices=choices)
        except LinksLocked as exc:
            error = str(exc)
        else:
            saved = True
            if not request.htmx:
                messages.success(request, LINKS_SAVED)
    context = {
        "campaign": campaign,
        "links": campaign_tracked_links(campaign_id=campaign.pk),
        "tags": Tag.objects.order_by("name"),
        "can_change": can_change,
        "saved": saved,
        "error": error,
    }
    return render(request, htmx_partial(request, TEMPLATE, "links-panel"), context)
