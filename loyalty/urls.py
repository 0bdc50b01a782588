"""The marketer's loyalty pages under /loyalty/ (each part of issue 12 adds its own)."""

from django.urls import path  # noqa: F401

app_name = "loyalty"

urlpatterns: list = []
