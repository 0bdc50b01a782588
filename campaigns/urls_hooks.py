"""Provider webhooks under /hooks/ (DESIGN.md §5): each verifies its provider's signature."""

from django.urls import path

from campaigns import views_hooks

app_name = "hooks"

urlpatterns: list = [
    path("line/", views_hooks.line_webhook, name="line"),
]
