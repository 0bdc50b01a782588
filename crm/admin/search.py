"""Searching an admin list by the member a row belongs to, never a LIKE scan."""

from functools import reduce
from operator import or_

from django.contrib import messages
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.search_policy import search_rate_check, search_refusal
from crm.selectors import member_ids_for_term


class MemberSearchMixin:
    """Search by the member a row belongs to (member number or identifier), never a LIKE scan.

    `member_search_fields` are the foreign keys to Member to match; `extra_search_q` may add
    an indexed condition of the model's own.
    """

    member_search_fields: tuple[str, ...] = ("member",)
    # What Django's own search would do; get_search_results below replaces it.
    search_fields: tuple[str, ...] = ("=member__member_no",)
    search_help_text = _(
        "A member number or an identifier (phone, email, LINE ID, card, carrier) in any spelling."
    )

    def extra_search_q(self, term: str) -> Q | None:
        return None

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # The same rules as the member list (crm/search_policy.py): a per-person rate limit,
        # and member numbers only for a viewer who may not see personal data.
        refusal = search_rate_check(user=request.user) or search_refusal(
            user=request.user, term=term
        )
        if refusal:
            messages.warning(request, refusal)
            return queryset.none(), False
        ids = member_ids_for_term(term)
        conditions = [Q(**{f"{field}__in": ids}) for field in self.member_search_fields if ids]
        if (extra := self.extra_search_q(term)) is not None:
            conditions.append(extra)
        if not conditions:
            return queryset.none(), False
        return queryset.filter(reduce(or_, conditions)), False
