"""The marketer's loyalty pages under /loyalty/ (each part of issue 12 adds its own)."""

from django.urls import path

import crm.urls  # noqa: F401  registers the <member_no:…> path converter
from loyalty import views_earn, views_jobs, views_overview, views_rewards, views_tiers

app_name = "loyalty"

urlpatterns: list = [
    # The rewards catalogue, coupons, and redeeming a reward for a member.
    path("rewards/", views_rewards.reward_list, name="reward_list"),
    path("rewards/new/", views_rewards.reward_create, name="reward_create"),
    path("rewards/<int:pk>/edit/", views_rewards.reward_edit, name="reward_edit"),
    path("coupons/", views_rewards.coupon_lookup, name="coupon_lookup"),
    path("coupons/<str:code>/", views_rewards.coupon_detail, name="coupon_detail"),
    path("coupons/<str:code>/qr.svg", views_rewards.coupon_qr, name="coupon_qr"),
    path("coupons/<str:code>/use/", views_rewards.coupon_use_view, name="coupon_use"),
    path("coupons/<str:code>/cancel/", views_rewards.coupon_void_view, name="coupon_void"),
    path(
        "members/<member_no:member_no>/redeem/",
        views_rewards.member_redeem,
        name="member_redeem",
    ),
    path("rules/", views_earn.earn_rules, name="earn_rules"),
    path("rules/new/", views_earn.earn_rule_post, name="earn_rule_new"),
    path("rules/<int:pk>/", views_earn.earn_rule_post, name="earn_rule_edit"),
    path("rules/terms/", views_earn.earn_terms_post, name="earn_terms"),
    path("rules/preview/", views_earn.earn_rules_preview, name="earn_rules_preview"),
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
    path("tiers/", views_tiers.tiers_page, name="tiers"),
    path("jobs/", views_jobs.jobs_page, name="jobs"),
]
