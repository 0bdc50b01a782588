"""Page permissions that say which permission was missing, so the 403 page can explain itself.

Django's `permission_required(..., raise_exception=True)` raises a bare PermissionDenied; this
one raises `MissingPermission` carrying the permissions the page needs. The 403 handler
(`omnichannel.views.permission_denied`) names them and the roles that hold them.
"""

import functools
from collections.abc import Callable, Iterable

from django.core.exceptions import PermissionDenied


class MissingPermission(PermissionDenied):
    def __init__(self, permissions: tuple[str, ...]):
        super().__init__(", ".join(permissions))
        self.permissions = permissions


def permission_required(
    perm: str | Iterable[str], *, raise_exception: bool = True
) -> Callable[[Callable], Callable]:
    """A view decorator: the user must hold every permission, or MissingPermission (a 403).

    Logging in is LoginRequiredMiddleware's job; `raise_exception` is accepted for the same
    signature as Django's decorator and must stay True.
    """
    if not raise_exception:
        raise ValueError("omnichannel's permission_required always raises (a 403 page)")
    permissions = (perm,) if isinstance(perm, str) else tuple(perm)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.has_perms(permissions):
                raise MissingPermission(permissions)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
