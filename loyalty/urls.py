"""The marketer's loyalty pages under /loyalty/ (each part of issue 12 adds its own)."""

from django.urls import path

from loyalty import views_earn

app_name = "loyalty"

urlpatterns: list = [
    path("rules/", views_earn.earn_rules, name="earn_rules"),
    path("rules/new/", views_earn.earn_rule_post, name="earn_rule_new"),
    path("rules/<int:pk>/", views_earn.earn_rule_post, name="earn_rule_edit"),
    path("rules/terms/", views_earn.earn_terms_post, name="earn_terms"),
    path("rules/preview/", views_earn.earn_rules_preview, name="earn_rules_preview"),
]
