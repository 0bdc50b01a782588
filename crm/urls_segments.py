from django.urls import path

from crm import views_segments

app_name = "segments"
urlpatterns = [
    path("", views_segments.segment_list, name="index"),
    path("new/", views_segments.segment_new, name="new"),
    path("count/", views_segments.segment_preview, name="preview"),
    path("<int:pk>/", views_segments.segment_detail, name="detail"),
    path("<int:pk>/refresh/", views_segments.segment_refresh, name="refresh"),
    path("<int:pk>/delete/", views_segments.segment_delete_view, name="delete"),
]
