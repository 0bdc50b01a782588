"""The 360° profile of a member: figures, timeline, and the actions a role may take.

Thin function views: forms check shapes, crm services decide. Each action answers an htmx
request with the part of the page it changed, and a plain POST with a redirect to the profile.
"""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from crm.forms_profile import ConsentForm, ContactForm, ForgetForm, MergeForm, NoteForm, TagForm
from crm.models import BirthdayCalendar, Member, MergeLog
from crm.normalize import format_phone_national
from crm.profile_cards import profile_cards_for
from crm.selectors import member_by_number, member_merge_candidates, member_profile
from crm.services import (
    ErasureError,
    MergeError,
    UndoBlocked,
    member_forget,
    member_merge_by_hand,
    member_survivor,
    member_unmerge,
)
from crm.services.consent import ConsentError, consent_record
from crm.services.profiles import (
    ContactInput,
    ContactInvalid,
    IdentifierTaken,
    ProfileError,
    member_contact_update,
    member_note_add,
    member_tag_add,
    member_tag_remove,
    primary_identities,
)
from crm.timeline import Cursor, timeline_page
from omnichannel.htmx import htmx_partial, redirect_htmx, wants_partial
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import permission_required

TEMPLATE = "crm/member_detail.html"


def _active_member(member_no: str) -> Member:
    """The active member an action is for: 404 for an unknown number, a merged or erased one."""
    member = member_by_number(member_no=member_no)
    if member is None or member.status != Member.Status.ACTIVE:
        raise Http404(_("No active member has this number."))
    return member


def _profile_url(member: Member) -> str:
    return reverse("crm:member_detail", args=[member.member_no])


def _done(request: HtmxHttpRequest, member: Member) -> HttpResponse:
    return redirect_htmx(request, _profile_url(member))


def _profile_context(request: HtmxHttpRequest, member: Member, **forms) -> dict:
    before = Cursor.decode(request.GET.get("before", ""))
    return {
        "member": member,
        "profile": member_profile(member=member),
        "timeline": timeline_page(member_id=member.pk, before=before),
        "cards": profile_cards_for(member),
        "consent_form": forms.get("consent_form") or ConsentForm(),
        "note_form": forms.get("note_form") or NoteForm(),
        "tag_form": forms.get("tag_form") or TagForm(),
    }


@require_GET
@vary_on_headers("HX-Request")
@permission_required("crm.view_member", raise_exception=True)
def member_detail(request: HtmxHttpRequest, member_no: str) -> HttpResponse:
    member = member_by_number(member_no=member_no)
    if member is None:
        raise Http404(_("No member has this number."))
    if member.status == Member.Status.MERGED:
        # A tombstone's number lands on the member it was merged into.
        return redirect(_profile_url(member_survivor(member_no=member.member_no)))
    if member.status == Member.Status.ERASED:
        return render(request, "crm/member_erased.html", {"member": member})
    before = Cursor.decode(request.GET.get("before", ""))
    if before is not None and wants_partial(request):
        # Infinite scroll: the next page of the timeline only.
        context = {"member": member, "timeline": timeline_page(member_id=member.pk, before=before)}
        return render(request, f"{TEMPLATE}#timeline-page", context)
    return render(request, TEMPLATE, _profile_context(request, member))


# --- Contact data -------------------------------------------------------------------------


def _contact_initial(member: Member) -> dict:
    shown = primary_identities(member=member)
    phone = shown.get("phone")
    return {
        "name": member.name,
        "birthday": member.birthday,
        "birthday_calendar": member.birthday_calendar,
        "gender": member.gender,
        "home_store": member.home_store_id,
        "phone": format_phone_national(phone.value) if phone else "",
        "email": shown["email"].value if "email" in shown else "",
        "line_user_id": shown["line_user_id"].value if "line_user_id" in shown else "",
    }


@require_http_methods(["GET", "POST"])
@permission_required("crm.change_member", raise_exception=True)
def member_edit(request: HtmxHttpRequest, member_no: str) -> HttpResponse:
    member = _active_member(member_no)
    offer: IdentifierTaken | None = None
    if request.method == "GET":
        form = ContactForm(initial=_contact_initial(member))
    else:
        form = ContactForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            merge_with = (
                member_by_number(member_no=data["merge_with"]) if data["merge_with"] else None
            )
            contact = ContactInput(
                name=data["name"],
                birthday=data["birthday"],
                birthday_calendar=data["birthday_calendar"] or BirthdayCalendar.SOLAR,
                gender=data["gender"],
                home_store_id=data["home_store"].pk if data["home_store"] else None,
                identifiers={name: data[name] for name in ContactForm.identifier_fields},
            )
            try:
                saved = member_contact_update(
                    member=member,
                    contact=contact,
                    actor=request.user,
                    merge_with=merge_with,
                    merge_reason=data["merge_reason"],
                )
            except ContactInvalid as exc:
                for name, reason in exc.errors.items():
                    form.add_error(name, reason)
            except IdentifierTaken as exc:
                offer = exc
                if exc.reason_missing:
                    form.add_error("merge_reason", _("Say why these members are the same person."))
            except MergeError as exc:
                form.add_error("merge_reason", str(exc))
            except ProfileError as exc:
                form.add_error(None, str(exc))
            else:
                if saved.pk != member.pk:
                    messages.success(
                        request,
                        _("Merged into %(no)s and saved the contact data.")
                        % {"no": saved.member_no},
                    )
                else:
                    messages.success(request, _("Contact data saved."))
                return _done(request, saved)
    template = htmx_partial(request, "crm/member_edit.html", "contact-form")
    return render(request, template, {"member": member, "form": form, "offer": offer})


# --- Consent, notes, tags -----------------------------------------------------------------


@require_POST
@permission_required("crm.add_consent", raise_exception=True)
def member_consent_record(request: HtmxHttpRequest, member_no: str) -> HttpResponse:
    member = _active_member(member_no)
    form = ConsentForm(request.POST)
    if form.is_valid():
        try:
            consent_record(
                member=member,
                channel=form.cleaned_data["channel"],
                opted_in=form.cleaned_data["state"] == "opted_in",
                source="manual",
                actor=request.user,
            )
        except ConsentError as exc:
            form.add_error(None, str(exc))
        else:
            if not request.htmx:
                messages.success(request, _("Consent recorded."))
                return redirect(_profile_url(member))
            form = None
    context = _profile_context(request, member, consent_form=form)
    return render(request, htmx_partial(request, TEMPLATE, "consents"), context)


@require_POST
@permission_required("crm.add_membernote", raise_exception=True)
def member_note_add_view(request: HtmxHttpRequest, member_no: str) -> HttpResponse:
    member = _active_member(member_no)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            member_note_add(member=member, body=form.cleaned_data["body"], actor=request.user)
        except ProfileError as exc:
            form.add_error("body", str(exc))
        else:
            if not request.htmx:
                messages.success(request, _("Note added."))
                return redirect(_profile_url(member))
            form = None
    context = _profile_context(request, member, note_form=form)
    return render(request, htmx_partial(request, TEMPLATE, "timeline"), context)


@require_POST
@permission_required("crm.change_member", raise_exception=True)
def member_tag_add_view(request: HtmxHttpRequest, member_no: str) -> HttpResponse:
    member = _active_member(member_no)
    form = TagForm(request.POST)
    if form.is_valid():
        try:
            member_tag_add(member=member, name=form.cleaned_data["name"])
        except ProfileError as exc:
            form.add_error("name", str(exc))
        else:
            if not request.htmx:
                return redirect(_profile_url(member))
            form = None
    context = _profile_context(request, member, tag_form=form)
    return render(request, htmx_partial(request, TEMPLATE, "tags"), context)


@require_POST
@permission_required("crm.change_member", raise_exception=True)
def member_tag_remove_view(request: HtmxHttpRequest, member_no: str, tag_id: int) -> HttpResponse:
    member = _active_member(member_no)
    member_tag_remove(member=member, tag_id=tag_id)
    if not request.htmx:
        return redirect(_profile_url(member))
    return render(
        request, htmx_partial(request, TEMPLATE, "tags"), _profile_context(request, member)
    )


# --- Merges and erasure -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required("crm.merge_member", raise_exception=True)
def member_merge(request: HtmxHttpRequest, member_no: str) -> HttpResponse:
    member = _active_member(member_no)
    query = request.GET.get("q", "").strip()
    form = MergeForm(request.POST or None, initial={"other": request.GET.get("other", "")})
    if request.method == "POST" and form.is_valid():
        other = member_by_number(member_no=form.cleaned_data["other"])
        if other is None or other.status != Member.Status.ACTIVE or other.pk == member.pk:
            form.add_error("other", _("Pick another active member."))
        else:
            try:
                merge_log = member_merge_by_hand(
                    first=member,
                    second=other,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except MergeError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    _("%(merged)s was merged into %(survivor)s.")
                    % {
                        "merged": merge_log.merged.member_no,
                        "survivor": merge_log.survivor.member_no,
                    },
                )
                return _done(request, merge_log.survivor)
        query = query or form.data.get("other", "")
    candidates = member_merge_candidates(term=query, exclude=member)
    context = {"member": member, "form": form, "query": query, "candidates": candidates}
    return render(
        request, htmx_partial(request, "crm/member_merge.html", "merge-candidates"), context
    )


@require_POST
@permission_required("crm.merge_member", raise_exception=True)
def member_unmerge_view(request: HtmxHttpRequest, member_no: str, merge_id: int) -> HttpResponse:
    member = member_by_number(member_no=member_no)
    if member is None:
        raise Http404(_("No member has this number."))
    merge_log = get_object_or_404(
        MergeLog.objects.select_related("survivor", "merged"), pk=merge_id
    )
    if member.pk not in (merge_log.survivor_id, merge_log.merged_id):
        raise Http404(_("This merge is not one of this member's."))
    try:
        merged = member_unmerge(merge_log=merge_log, actor=request.user)
    except UndoBlocked as exc:
        blocking = exc.blocking
        messages.error(
            request,
            format_html(
                '{} <a href="{}#merge-{}">{}</a>',
                _("Undo merge #%(id)s (%(merged)s → %(survivor)s) first: it depends on this one.")
                % {
                    "id": blocking.pk,
                    "merged": blocking.merged.member_no,
                    "survivor": blocking.survivor.member_no,
                },
                _profile_url(blocking.survivor),
                blocking.pk,
                _("Go to that merge"),
            ),
        )
        return _done(request, merge_log.survivor)
    except MergeError as exc:
        messages.error(request, str(exc))
        return _done(request, merge_log.survivor)
    messages.success(
        request,
        _("Merge undone: %(no)s is a member of its own again.") % {"no": merged.member_no},
    )
    return _done(request, merge_log.survivor)


@require_http_methods(["GET", "POST"])
@permission_required("crm.forget_member", raise_exception=True)
def member_forget_view(request: HtmxHttpRequest, member_no: str) -> HttpResponse:
    member = _active_member(member_no)
    form = ForgetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            member_forget(member=member, actor=request.user, reason=form.cleaned_data["reason"])
        except ErasureError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The member's personal data was erased."))
            return _done(request, member)
    return render(request, "crm/member_forget.html", {"member": member, "form": form})
