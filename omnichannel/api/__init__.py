"""The project's one API, /api/v1/ (DESIGN.md §1): keys, scopes, idempotency, limits, errors.

`omnichannel.api.core.api` is the NinjaAPI object; each app contributes a ninja Router (crm's
is `crm.api.api.router`) that omnichannel/urls.py adds with `api_routers_install()`. The keys
and idempotency records stay crm's models (crm.models.ApiKey, IdempotencyRecord): moving them
would cost a cross-app migration for no behaviour.
"""
