from django.urls import path

from omnichannel.kpis import views

app_name = "kpis"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.page, name="page"),
    path("<slug:slug>/<slug:key>.csv", views.chart_csv, name="chart_csv"),
]
