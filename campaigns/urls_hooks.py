"""Provider webhooks under /hooks/ (DESIGN.md §5): each verifies its provider's signature."""

from django.urls import include, path

app_name = "hooks"

urlpatterns: list = [
    # Every ESP's tracking webhook: /hooks/anymail/<esp>/tracking/ (anymail checks the basic
    # auth of ANYMAIL_WEBHOOK_SECRET); campaigns/signals_email.py receives the events.
    path("anymail/", include("anymail.urls")),
]
