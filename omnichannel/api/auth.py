"""The gate every API call passes before its body is read: key, scope, rate limit, body size."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer

from crm.models import ApiKey
from crm.services.api_keys import (
    ApiKeyRevoked,
    ApiKeyUnknown,
    api_key_authenticate,
    api_key_has_scope,
    api_key_rate_check,
)
from omnichannel.api.scopes import Scope

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_RATE_LIMIT_PER_MINUTE = 600
KEY_MAX_LENGTH = 200  # ours are 43 characters; anything much longer is not one of them

ERROR_TOO_LARGE = _("The body is larger than %(max)s bytes.")
ERROR_RATE_LIMITED = _("More than %(limit)s calls a minute with this key; retry in %(wait)s s.")
ERROR_SCOPE_MISSING = _(
    "This API key may not do this: it needs the scope %(needed)s and has %(held)s. Make a key "
    "with that scope (manage.py create_api_key … --scope %(first)s)."
)
ERROR_NO_SCOPE_DECLARED = _("This operation is open to no API key.")


class PayloadTooLarge(Exception):
    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(str(ERROR_TOO_LARGE % {"max": limit}))


class RateLimited(Exception):
    def __init__(self, limit: int, retry_after: int):
        self.retry_after = retry_after
        super().__init__(str(ERROR_RATE_LIMITED % {"limit": limit, "wait": retry_after}))


def max_body_bytes() -> int:
    return getattr(settings, "API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)


def rate_limit_per_minute() -> int:
    return getattr(settings, "API_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT_PER_MINUTE)


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer <key>`: no or an unknown key is a 401, a revoked one a 403, and
    so is a key holding none of the operation's `scopes` (`ApiKeyAuth(Scope.INGEST)`).

    Fail closed: `ApiKeyAuth()` with no scope lets no key through (the API's default, so an
    operation that forgets to name its scope is refused, not open to every key).

    Ninja runs this before it parses the body, so the rate limit (429) and the size limit (413)
    are checked here too: a refused call costs no parsing.
    """

    def __init__(self, *scopes: Scope) -> None:
        self.scopes: tuple[str, ...] = tuple(Scope(scope).value for scope in scopes)
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        if not token or len(token) > KEY_MAX_LENGTH:
            return None
        try:
            api_key = api_key_authenticate(key=token)
        except ApiKeyUnknown:
            return None
        except ApiKeyRevoked as exc:
            raise AuthorizationError(message=str(exc)) from None
        limit = rate_limit_per_minute()
        retry_after = api_key_rate_check(api_key=api_key, limit=limit)
        if retry_after is not None:
            raise RateLimited(limit, retry_after)
        # After the rate limit, so a key calling what it may not is limited all the same.
        self.scope_check(api_key)
        body_size_check(request)
        return api_key

    def scope_check(self, api_key: ApiKey) -> None:
        """Raises AuthorizationError (a 403 saying which scope is missing) unless the key holds
        one of this operation's scopes."""
        if not self.scopes:
            raise AuthorizationError(message=str(ERROR_NO_SCOPE_DECLARED))
        if not api_key_has_scope(api_key=api_key, scopes=self.scopes):
            needed = " / ".join(self.scopes)
            held = ", ".join(api_key.scopes or []) or "—"
            raise AuthorizationError(
                message=str(
                    ERROR_SCOPE_MISSING % {"needed": needed, "held": held, "first": self.scopes[0]}
                )
            )


def body_size_check(request: HttpRequest) -> None:
    """Raises PayloadTooLarge for a body over API_MAX_BODY_BYTES, declared or actual."""
    limit = max_body_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise PayloadTooLarge(limit)
    try:
        actual = len(request.body)
    except RequestDataTooBig:  # over DATA_UPLOAD_MAX_MEMORY_SIZE, should that be lower
        raise PayloadTooLarge(limit) from None
    if actual > limit:
        raise PayloadTooLarge(limit)
