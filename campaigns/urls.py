from django.urls import path

from campaigns import views, views_links

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="index"),
    path("new/", views.campaign_new, name="new"),
    path("check/", views.campaign_check, name="check"),
    path("audience/", views.campaign_audience, name="audience"),
    path("line/", views.campaign_line, name="line"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/report/", views.campaign_report_view, name="report"),
    path("<int:pk>/report.csv", views.campaign_report_csv, name="report_csv"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/confirm/", views.campaign_confirm, name="confirm"),
    path("<int:pk>/links/", views_links.campaign_links, name="links"),
    path("<int:pk>/test/", views.campaign_test, name="test"),
    path("<int:pk>/progress/", views.campaign_progress_view, name="progress"),
    path("<int:pk>/pause/", views.campaign_pause_view, name="pause"),
    path("<int:pk>/resume/", views.campaign_resume_view, name="resume"),
    path("<int:pk>/cancel/", views.campaign_cancel_view, name="cancel"),
    path(
        "<int:pk>/line-insight/refresh/",
        views.campaign_line_insight_refresh_view,
        name="line_insight_refresh",
    ),
]
