from django.urls import path

from crm import views_imports

app_name = "imports"
urlpatterns = [
    path("", views_imports.job_list, name="job_list"),
    path("<int:pk>/", views_imports.job_detail, name="job_detail"),
    path("<int:pk>/confirm/", views_imports.job_confirm, name="job_confirm"),
    path("<int:pk>/report/", views_imports.job_report, name="job_report"),
]
