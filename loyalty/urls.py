"""The marketer's loyalty pages under /loyalty/ (each part of issue 12 adds its own)."""

from django.urls import path

from loyalty import views_tiers

app_name = "loyalty"

urlpatterns: list = [
    path("tiers/", views_tiers.tiers_page, name="tiers"),
]
