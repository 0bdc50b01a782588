"""The rewards catalogue, coupon lookup and the coupon page, and redeeming a reward for a
member: thin function views over loyalty.services.rewards / coupons and
loyalty.selectors_rewards.

Marketers edit the catalogue (add/change_reward), redeem for a member (add_coupon), mark a
coupon used (redeem_coupon) and cancel one (change_coupon); Analysts read (view_*). The coupon
page's actions post their form with htmx and get the coupon card back (the page without
JavaScript posts the same form and gets the whole page); a refusal comes back beside the form
with what was typed.
"""

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from crm.models import Member
from crm.selectors import member_by_number
from loyalty.forms_rewards import (
    CouponLookupForm,
    CouponUseForm,
    CouponVoidForm,
    RedeemForm,
    RewardForm,
)
from loyalty.models import Coupon, PointsAccount, PointsTransaction, Reward
from loyalty.qr import coupon_qr_svg
from loyalty.selectors import points_available
from loyalty.selectors_rewards import (
    coupon_by_code,
    coupons_page,
    rewards_catalogue,
    rewards_redeemable,
)
from loyalty.services.coupons import CouponRefused, coupon_use
from loyalty.services.ledger import InsufficientPoints
from loyalty.services.rewards import (
    CouponNotVoidable,
    RewardUnavailable,
    coupon_code_display,
    coupon_void,
    reward_redeem,
    reward_save,
)
from omnichannel.htmx import htmx_partial, redirect_htmx
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import permission_required

REWARD_LIST = "loyalty/reward_list.html"
REWARD_FORM = "loyalty/reward_form.html"
COUPON_LOOKUP = "loyalty/coupon_lookup.html"
COUPON_DETAIL = "loyalty/coupon_detail.html"
MEMBER_REDEEM = "loyalty/member_redeem.html"

VIEW_REWARD = "loyalty.view_reward"
ADD_REWARD = "loyalty.add_reward"
CHANGE_REWARD = "loyalty.change_reward"
VIEW_COUPON = "loyalty.view_coupon"
ISSUE_COUPON = "loyalty.add_coupon"
USE_COUPON = "loyalty.redeem_coupon"
VOID_COUPON = "loyalty.change_coupon"
UNMASK = "crm.unmask_personal_data"

PAGE_SIZE = 25
REWARD_SAVED = gettext_lazy("Reward “%(name)s” saved.")
FIX_ERRORS = gettext_lazy("Fix the fields marked in red, then save again.")
COUPON_USED = gettext_lazy("Coupon %(code)s marked used.")
COUPON_CANCELLED = gettext_lazy("Coupon %(code)s cancelled.")
POINTS_RETURNED = gettext_lazy("%(points)s points went back to the member.")
COUPON_ISSUED = gettext_lazy("Coupon %(code)s issued for “%(reward)s”.")
NO_COUPON = gettext_lazy("No coupon has this code.")
MEMBER_INACTIVE = gettext_lazy("This member was merged or erased: rewards go to active members.")


# --- The catalogue ------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW_REWARD)
def reward_list(request: HtmxHttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in ("active", "inactive"):
        status = ""
    page = Paginator(rewards_catalogue(status=status), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "can_add": request.user.has_perm(ADD_REWARD),
        "can_change": request.user.has_perm(CHANGE_REWARD),
    }
    return render(request, htmx_partial(request, REWARD_LIST, "reward-table"), context)


@require_http_methods(["GET", "POST"])
@permission_required(ADD_REWARD)
def reward_create(request: HtmxHttpRequest) -> HttpResponse:
    return _reward_edit(request, Reward())


@require_http_methods(["GET", "POST"])
@permission_required(CHANGE_REWARD)
def reward_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _reward_edit(request, get_object_or_404(Reward, pk=pk))


def _reward_edit(request: HtmxHttpRequest, reward: Reward) -> HttpResponse:
    if request.method == "POST":
        form = RewardForm(request.POST, request.FILES, instance=reward)
        if form.is_valid():
            saved = reward_save(reward=form.save(commit=False))
            messages.success(request, REWARD_SAVED % {"name": saved.name})
            return redirect_htmx(request, reverse("loyalty:reward_list"))
        messages.error(request, FIX_ERRORS)
    else:
        form = RewardForm(instance=reward)
    return render(request, REWARD_FORM, {"form": form, "reward": reward})


# --- Coupons ------------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW_COUPON)
def coupon_lookup(request: HtmxHttpRequest) -> HttpResponse:
    """?code=… finds the coupon in any spelling and opens its page; an unknown code comes back
    beside the field, as typed."""
    form = CouponLookupForm(request.GET if "code" in request.GET else None)
    if form.is_bound and form.is_valid():
        coupon = coupon_by_code(code=form.cleaned_data["code"])
        if coupon is not None:
            return redirect_htmx(request, reverse("loyalty:coupon_detail", args=[coupon.code]))
        form.add_error("code", NO_COUPON)
        form.mark_invalid()
    status = request.GET.get("status", "")
    if status not in Coupon.Status.values:
        status = ""
    page = coupons_page(status=status, before=request.GET.get("before", ""), size=PAGE_SIZE)
    context = {
        "form": form,
        "page": page,
        "status": status,
        "statuses": Coupon.Status.choices,
        "can_unmask": request.user.has_perm(UNMASK),
        # A code is money at the till: the list shows it whole to those who may redeem.
        "can_use": request.user.has_perm(USE_COUPON),
    }
    partial = "coupon-table" if "code" not in request.GET else "lookup-form"
    return render(request, htmx_partial(request, COUPON_LOOKUP, partial), context)


def _coupon_or_404(code: str) -> Coupon:
    coupon = coupon_by_code(code=code)
    if coupon is None:
        raise Http404(NO_COUPON)
    return coupon


def _coupon_context(
    request: HtmxHttpRequest,
    coupon: Coupon,
    *,
    use_form: CouponUseForm | None = None,
    void_form: CouponVoidForm | None = None,
    refusal: str = "",
) -> dict:
    spent = (
        PointsTransaction.objects.filter(coupon=coupon, kind=PointsTransaction.Kind.REDEEM)
        .values_list("points", flat=True)
        .first()
    )
    return {
        "coupon": coupon,
        "code_shown": coupon_code_display(coupon.code),
        "member": coupon.account.member,
        "points_spent": -spent if spent else 0,
        "can_unmask": request.user.has_perm(UNMASK),
        "can_use": request.user.has_perm(USE_COUPON),
        "can_void": request.user.has_perm(VOID_COUPON),
        "use_form": use_form or CouponUseForm(),
        "void_form": void_form or CouponVoidForm(),
        "refusal": refusal,
    }


@require_GET
@permission_required(VIEW_COUPON)
def coupon_detail(request: HtmxHttpRequest, code: str) -> HttpResponse:
    coupon = _coupon_or_404(code)
    return render(request, COUPON_DETAIL, _coupon_context(request, coupon))


@require_GET
@permission_required(USE_COUPON)
@cache_control(private=True, max_age=86_400, immutable=True)
def coupon_qr(request: HtmxHttpRequest, code: str) -> HttpResponse:
    """The QR code never changes for a code: the browser keeps it for a day (private: it is a
    coupon, not for shared caches)."""
    coupon = _coupon_or_404(code)
    return HttpResponse(coupon_qr_svg(coupon.code), content_type="image/svg+xml")


@require_POST
@permission_required(USE_COUPON)
def coupon_use_view(request: HtmxHttpRequest, code: str) -> HttpResponse:
    coupon = _coupon_or_404(code)
    form = CouponUseForm(request.POST)
    refusal = ""
    if form.is_valid():
        store = form.cleaned_data["store"]
        try:
            coupon = coupon_use(
                code=coupon.code,
                via=Coupon.UsedVia.PAGE,
                order_no=form.cleaned_data["order_no"].strip(),
                store_id=store.pk if store else None,
                actor_id=request.user.pk,
            )
        except CouponRefused as refused:
            refusal = str(refused)
        else:
            messages.success(request, COUPON_USED % {"code": coupon_code_display(coupon.code)})
            return _coupon_answer(request, _coupon_or_404(coupon.code))
    return _coupon_answer(request, coupon, use_form=form, refusal=refusal)


@require_POST
@permission_required(VOID_COUPON)
def coupon_void_view(request: HtmxHttpRequest, code: str) -> HttpResponse:
    coupon = _coupon_or_404(code)
    form = CouponVoidForm(request.POST)
    refusal = ""
    if form.is_valid():
        try:
            result = coupon_void(
                coupon_id=coupon.pk,
                reason=form.cleaned_data["reason"],
                refund=form.cleaned_data["refund"],
                actor_id=request.user.pk,
            )
        except CouponNotVoidable as refused:
            refusal = str(refused)
        else:
            text = COUPON_CANCELLED % {"code": coupon_code_display(coupon.code)}
            if result.points_returned:
                text = f"{text} {POINTS_RETURNED % {'points': f'{result.points_returned:,}'}}"
            messages.success(request, text)
            return _coupon_answer(request, _coupon_or_404(coupon.code))
    return _coupon_answer(request, coupon, void_form=form, refusal=refusal)


def _coupon_answer(request: HtmxHttpRequest, coupon: Coupon, **forms) -> HttpResponse:
    """The coupon card after an action, its refusal or form errors beside the form: htmx swaps
    it in (with the messages); a plain post gets the whole page. Answered 200 like every form
    page here, so htmx swaps it (base.html's responseHandling swaps no 4xx)."""
    context = _coupon_context(request, coupon, **forms)
    return render(request, htmx_partial(request, COUPON_DETAIL, "coupon-card"), context)


# --- Redeeming for a member -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required(ISSUE_COUPON)
def member_redeem(request: HtmxHttpRequest, member_no: str) -> HttpResponse:
    member = member_by_number(member_no=member_no)
    if member is None:
        raise Http404(_("No member has this number."))
    active = member.status == Member.Status.ACTIVE
    account = PointsAccount.objects.select_related("tier").filter(member=member).first()
    rewards = rewards_redeemable()
    refusal = ""
    if request.method == "POST" and active:
        form = RedeemForm(request.POST, rewards=rewards)
        if form.is_valid():
            try:
                coupon = reward_redeem(
                    member_id=member.pk,
                    reward_id=form.cleaned_data["reward"].pk,
                    source=PointsTransaction.Source.PAGE,
                    idempotency_key=f"page:{form.cleaned_data['key']}",
                    actor_id=request.user.pk,
                )
            except (InsufficientPoints, RewardUnavailable) as refused:
                refusal = str(refused)
            else:
                messages.success(
                    request,
                    COUPON_ISSUED
                    % {"code": coupon_code_display(coupon.code), "reward": coupon.reward.name},
                )
                return redirect_htmx(request, reverse("loyalty:coupon_detail", args=[coupon.code]))
    else:
        form = RedeemForm(initial={"key": uuid.uuid4().hex}, rewards=rewards)
    context = {
        "member": member,
        "active": active,
        "account": account,
        "available": points_available(account=account, now=timezone.now()),
        "form": form,
        "has_rewards": rewards.exists(),
        "refusal": refusal or ("" if active else str(MEMBER_INACTIVE)),
        "can_unmask": request.user.has_perm(UNMASK),
    }
    return render(request, htmx_partial(request, MEMBER_REDEEM, "redeem-form"), context)
