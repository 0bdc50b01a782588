"""The earn-rules page (/loyalty/rules/): the rules and the programme's earning terms, edited
by Marketers and read by Analysts, with a preview of what a draft would have earned last month.
Thin views: the forms check, loyalty.services.earn_rules saves (audited), earning previews."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from loyalty.forms_earn import EarnRuleForm, ProgrammeTermsForm
from loyalty.models import EarnRule, Programme
from loyalty.services.earn_rules import (
    draft_with_rule,
    draft_with_terms,
    earn_rule_save,
    programme_terms_save,
)
from loyalty.services.earning import earn_preview
from omnichannel.htmx import redirect_htmx, wants_partial
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import permission_required

TEMPLATE = "loyalty/earn_rules.html"
VIEW = "loyalty.view_earnrule"
CHANGE_RULE = "loyalty.change_earnrule"
ADD_RULE = "loyalty.add_earnrule"
CHANGE_TERMS = "loyalty.change_programme"
RULE_FIELDS = ("name", "kind", "channel", "multiplier", "starts_at", "ends_at", "is_active")


def _page(request, *, rule=None, rule_form=None, terms_form=None, status=200, partial=None):
    programme = Programme.current()
    rules = EarnRule.objects.prefetch_related("stores").order_by("kind", "name")
    context = {
        "rules": rules,
        "programme": programme,
        "excluded": list(programme.excluded_stores.order_by("code")),
        "editing": rule,
        "rule_form": rule_form or EarnRuleForm(instance=rule),
        "terms_form": terms_form or ProgrammeTermsForm(instance=programme),
        "can_change_rules": request.user.has_perm(CHANGE_RULE),
        "can_change_terms": request.user.has_perm(CHANGE_TERMS),
    }
    template = f"{TEMPLATE}#{partial}" if partial and wants_partial(request) else TEMPLATE
    return render(request, template, context, status=status)


@permission_required(VIEW, raise_exception=True)
def earn_rules(request: HtmxHttpRequest) -> HttpResponse:
    rule = None
    if request.GET.get("rule", "").isdigit():
        rule = get_object_or_404(EarnRule, pk=int(request.GET["rule"]))
    return _page(request, rule=rule)


@require_POST
@permission_required([ADD_RULE, CHANGE_RULE], raise_exception=True)
def earn_rule_post(request: HtmxHttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(EarnRule, pk=pk) if pk else None
    form = EarnRuleForm(request.POST, instance=rule)
    if not form.is_valid():
        return _page(request, rule=rule, rule_form=form, status=200, partial="rule-form")
    earn_rule_save(
        rule=rule,
        values={field: form.cleaned_data[field] for field in RULE_FIELDS},
        store_ids=[store.pk for store in form.cleaned_data["stores"]],
        actor=request.user,
    )
    return redirect_htmx(request, reverse("loyalty:earn_rules"))


@require_POST
@permission_required(CHANGE_TERMS, raise_exception=True)
def earn_terms_post(request: HtmxHttpRequest) -> HttpResponse:
    form = ProgrammeTermsForm(request.POST, instance=Programme.current())
    if not form.is_valid():
        return _page(request, terms_form=form, status=200, partial="terms-form")
    programme_terms_save(
        values=form.cleaned_data,
        excluded_store_ids=[store.pk for store in form.cleaned_data["excluded_stores"]],
        actor=request.user,
    )
    return redirect_htmx(request, reverse("loyalty:earn_rules"))


@require_POST
@permission_required(VIEW, raise_exception=True)
def earn_rules_preview(request: HtmxHttpRequest) -> HttpResponse:
    """What the drafted rule (or terms) would have earned last month; writes nothing."""
    if request.POST.get("draft") == "terms":
        form = ProgrammeTermsForm(request.POST, instance=Programme.current())
        draft = None
        if form.is_valid():
            draft = draft_with_terms(
                values=form.cleaned_data,
                excluded_store_ids=[s.pk for s in form.cleaned_data["excluded_stores"]],
            )
    else:
        pk = request.POST.get("rule_id", "")
        rule = get_object_or_404(EarnRule, pk=int(pk)) if pk.isdigit() else None
        form = EarnRuleForm(request.POST, instance=rule)
        draft = None
        if form.is_valid():
            draft = draft_with_rule(
                rule_id=rule.pk if rule else None,
                values={field: form.cleaned_data[field] for field in RULE_FIELDS},
                store_ids=[s.pk for s in form.cleaned_data["stores"]],
            )
    preview = earn_preview(draft=draft) if draft is not None else None
    return render(
        request, f"{TEMPLATE}#preview", {"preview": preview, "preview_invalid": draft is None}
    )
