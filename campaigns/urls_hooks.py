"""Provider webhooks under /hooks/ (DESIGN.md §5): each verifies its provider's signature."""

from django.urls import path  # noqa: F401

app_name = "hooks"

urlpatterns: list = []
