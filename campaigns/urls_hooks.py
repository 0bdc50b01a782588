"""Provider webhooks under /hooks/ (DESIGN.md §5): each verifies its provider's signature."""

from django.urls import include, path

from campaigns import views_hooks

app_name = "hooks"

urlpatterns: list = [
    path("line/", views_hooks.line_webhook, name="line"),
    # Every ESP's tracking webhook: /hooks/anymail/<esp>/tracking/ (anymail checks the basic
    # auth of ANYMAIL_WEBHOOK_SECRET); campaigns/signals_email.py receives the events.
    path("anymail/", include("anymail.urls")),
]
