"""The loyalty jobs' runs (/loyalty/jobs/): each beat job's recent runs, what they reached and
what the pipeline held back, and for the jobs that send, their message to edit."""

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from loyalty.selectors_jobs import loyalty_job_sections
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import permission_required

VIEW_PERMISSION = "loyalty.view_pointsaccount"
EDIT_MESSAGE_PERMISSION = "campaigns.change_campaign"


@require_GET
@permission_required(VIEW_PERMISSION)
def jobs_page(request: HtmxHttpRequest) -> HttpResponse:
    """Each job's newest runs (bounded); no member appears on the page, only counts."""
    context = {
        "sections": loyalty_job_sections(),
        "can_edit_message": request.user.has_perm(EDIT_MESSAGE_PERMISSION),
    }
    return render(request, "loyalty/jobs.html", context)
