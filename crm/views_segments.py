"""The marketer's segment pages: the list, the builder (new and saved), delete, refresh.

Thin function views over crm.segments (checking, counting) and crm.services.segments (saving).
The builder is one form posted whole: without JavaScript every button submits it and the page
comes back changed; with htmx a change posts the same form to the count endpoint
(`segment_preview`, count + preview + the errors beside each rule), and a button that changes
the tree's shape (add, remove, a new rule type or operator) re-renders the builder.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from crm.forms_segments import (
    ACTION_SAVE,
    SegmentSaveForm,
    builder_apply,
    builder_node_errors,
    builder_tree,
    definition_from_post,
    rule_choices,
)
from crm.models import Segment
from crm.segments import (
    EMPTY_DEFINITION,
    SegmentDefinitionError,
    segment_count,
    segment_definition_validate,
)
from crm.selectors import segment_preview_members, segments_for_list
from crm.services.segments import (
    SegmentError,
    segment_count_refresh,
    segment_create,
    segment_delete,
    segment_update,
)
from omnichannel.htmx import htmx_partial, redirect_htmx, wants_partial
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import permission_required

LIST_TEMPLATE = "crm/segments/segment_list.html"
BUILDER_TEMPLATE = "crm/segments/segment_builder.html"
DELETE_TEMPLATE = "crm/segments/segment_delete.html"

VIEW = "crm.view_segment"
ADD = "crm.add_segment"
CHANGE = "crm.change_segment"
DELETE = "crm.delete_segment"

SAVED = gettext_lazy("Segment “%(name)s” saved: %(count)s members.")
DELETED = gettext_lazy("Segment “%(name)s” deleted.")
REFRESHED = gettext_lazy("“%(name)s” counted again: %(count)s members.")
NOT_COUNTABLE = gettext_lazy("“%(name)s” could not be counted: its rules no longer check out.")
FIX_RULES = gettext_lazy("Fix the rules marked in red, then save again.")


def _number(value: int) -> str:
    return f"{value:,}"


# --- The list ------------------------------------------------------------------------------


@require_GET
@permission_required(VIEW, raise_exception=True)
def segment_list(request: HtmxHttpRequest) -> HttpResponse:
    ready_made, saved, more = segments_for_list()
    context = {
        "ready_made": ready_made,
        "saved": saved,
        "more_saved": more,
        "can_add": request.user.has_perm(ADD),
        "can_change": request.user.has_perm(CHANGE),
        "can_delete": request.user.has_perm(DELETE),
    }
    return render(request, LIST_TEMPLATE, context)


@require_POST
@permission_required(CHANGE, raise_exception=True)
def segment_refresh(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Count one segment again now (the beat job does every one nightly)."""
    segment = get_object_or_404(Segment, pk=pk)
    count = segment_count_refresh(segment_id=segment.pk)
    segment.refresh_from_db(fields=["member_count", "counted_at"])
    if wants_partial(request):
        context = {
            "segment": segment,
            "can_change": True,
            "can_delete": request.user.has_perm(DELETE),
        }
        return render(request, f"{LIST_TEMPLATE}#segment-row", context)
    if count is None:
        messages.error(request, NOT_COUNTABLE % {"name": segment.display_name})
    else:
        messages.success(request, REFRESHED % {"name": segment.display_name, "count": count})
    return redirect("segments:index")


# --- The builder ---------------------------------------------------------------------------


def _result(definition: dict) -> dict:
    """The count and the preview of a definition, or the problems that keep it from one."""
    try:
        count = segment_count(definition)
    except SegmentDefinitionError as error:
        return {"count": None, "preview": [], "errors": error.as_dict()}
    preview = segment_preview_members(definition=definition) if count else []
    return {"count": count, "preview": preview, "errors": {}}


def _builder(
    request: HtmxHttpRequest,
    *,
    segment: Segment | None,
    definition: dict,
    form: SegmentSaveForm,
    template: str = BUILDER_TEMPLATE,
    save_errors: dict | None = None,
) -> HttpResponse:
    result = _result(definition)
    errors = {**result["errors"], **(save_errors or {})}
    editable = (
        request.user.has_perm(CHANGE) and not segment.is_ready_made
        if segment
        else request.user.has_perm(ADD)
    )
    context = {
        "segment": segment,
        "form": form,
        "tree": builder_tree(definition, errors),
        "rule_choices": rule_choices(),
        "editable": editable,
        "can_delete": bool(segment) and not segment.is_ready_made and request.user.has_perm(DELETE),
        "can_copy": request.user.has_perm(ADD) and segment is not None,
        "form_url": reverse("segments:detail", args=[segment.pk])
        if segment
        else reverse("segments:new"),
        **result,
    }
    return render(request, template, context)


def _builder_post(request: HtmxHttpRequest, segment: Segment | None) -> HttpResponse:
    definition = definition_from_post(request.POST)
    action = request.POST.get("action", "")
    form = SegmentSaveForm(request.POST)
    template = htmx_partial(request, BUILDER_TEMPLATE, "builder-response")
    if action != ACTION_SAVE:
        if action:
            definition = builder_apply(definition, action)
        form = SegmentSaveForm(initial=request.POST.dict())  # not checked until saving
        return _builder(
            request, segment=segment, definition=definition, form=form, template=template
        )
    # Saving: name and rules are checked together, so every problem shows at once.
    rule_errors: dict = {}
    try:
        segment_definition_validate(definition)
    except SegmentDefinitionError as error:
        rule_errors = error.as_dict()
    if form.is_valid() and not rule_errors:
        data = form.cleaned_data
        try:
            if segment is None:
                segment = segment_create(
                    name=data["name"],
                    description=data["description"],
                    definition=definition,
                    created_by=request.user,
                )
            else:
                segment = segment_update(
                    segment=segment,
                    name=data["name"],
                    description=data["description"],
                    definition=definition,
                )
        except SegmentError as error:
            form.add_error("name", str(error))
        except SegmentDefinitionError as error:  # a rule's app changed under us
            rule_errors = error.as_dict()
        else:
            count = _number(segment.member_count or 0)
            messages.success(request, SAVED % {"name": segment.name, "count": count})
            return redirect_htmx(request, reverse("segments:detail", args=[segment.pk]))
    if rule_errors:
        messages.error(request, FIX_RULES)
    return _builder(
        request,
        segment=segment,
        definition=definition,
        form=form,
        template=template,
        save_errors=rule_errors,
    )


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@permission_required(ADD, raise_exception=True)
def segment_new(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _builder_post(request, None)
    definition = EMPTY_DEFINITION
    initial = {}
    copy_of = request.GET.get("copy", "")
    if copy_of.isdigit():
        # "Copy": a ready-made segment (or anyone's) as the start of a new one.
        source = get_object_or_404(Segment, pk=int(copy_of))
        definition = source.definition
        initial["name"] = _("Copy of %(name)s") % {"name": source.display_name}
        initial["description"] = (
            _(source.description) if source.is_ready_made else source.description
        )
    form = SegmentSaveForm(initial=initial)
    return _builder(request, segment=None, definition=definition, form=form)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@permission_required(VIEW, raise_exception=True)
def segment_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if request.method == "POST":
        if not request.user.has_perm(CHANGE) or segment.is_ready_made:
            raise PermissionDenied
        return _builder_post(request, segment)
    form = SegmentSaveForm(
        initial={"name": segment.display_name, "description": segment.description}
    )
    return _builder(request, segment=segment, definition=segment.definition, form=form)


@require_POST
@permission_required([VIEW, "crm.view_member"], raise_exception=True)
def segment_preview(request: HtmxHttpRequest) -> HttpResponse:
    """The count endpoint: the posted builder's count (one query over members), the first
    matching members, and each rule's errors (swapped in beside the fields)."""
    definition = definition_from_post(request.POST)
    result = _result(definition)
    context = {**result, "node_errors": builder_node_errors(definition, result["errors"])}
    return render(request, f"{BUILDER_TEMPLATE}#result", context)


# --- Delete --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required(DELETE, raise_exception=True)
def segment_delete_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if request.method == "POST":
        try:
            segment_delete(segment=segment)
        except SegmentError as error:
            messages.error(request, str(error))
            return redirect("segments:detail", pk=segment.pk)
        messages.success(request, DELETED % {"name": segment.name})
        return redirect("segments:index")
    return render(request, DELETE_TEMPLATE, {"segment": segment})
