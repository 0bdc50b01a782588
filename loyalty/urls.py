"""The marketer's loyalty pages under /loyalty/ (each part of issue 12 adds its own)."""

from django.urls import path

from loyalty import views_overview

app_name = "loyalty"

urlpatterns: list = [
    path("", views_overview.overview, name="index"),
    path("overview.csv", views_overview.overview_csv, name="overview_csv"),
    path("members/", views_overview.member_find, name="member_find"),
    path("members/<str:member_no>/points/", views_overview.member_points, name="member_points"),
    path(
        "members/<str:member_no>/points/export/",
        views_overview.member_points_export,
        name="member_points_export",
    ),
    path("exports/<int:pk>/", views_overview.points_export_status, name="points_export_status"),
    path(
        "exports/<int:pk>/download/",
        views_overview.points_export_download,
        name="points_export_download",
    ),
]
