"""Pages members reach from their messages, without a login: /u/ (short, for SMS too)."""

from django.urls import path  # noqa: F401

app_name = "campaigns_public"

urlpatterns: list = []
