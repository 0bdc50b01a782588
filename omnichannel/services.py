"""Verbs of the project package: users and their roles, periodic jobs."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from omnichannel.roles import ADMIN, ROLES


class UnknownRole(ValueError):
    pass


@transaction.atomic
def user_set_role(*, user: AbstractUser, role: str) -> AbstractUser:
    """Give a user exactly one role. Admins reach the Django admin; the others do not.

    Raises UnknownRole for a name outside the role matrix.
    """
    if role not in ROLES:
        raise UnknownRole(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    user.is_staff = role == ADMIN
    user.is_superuser = role == ADMIN
    user.save(update_fields=["is_staff", "is_superuser"])
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
    user.groups.add(Group.objects.get(name=role))
    return user


@transaction.atomic
def user_upsert_with_role(
    *, username: str, password: str, role: str, email: str = ""
) -> AbstractUser:
    """Create the user (or reset its password) and give it the role."""
    user, _created = get_user_model().objects.get_or_create(
        username=username, defaults={"email": email}
    )
    user.set_password(password)
    user.save(update_fields=["password"])
    return user_set_role(user=user, role=role)
