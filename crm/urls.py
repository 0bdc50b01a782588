from django.urls import path

from crm import views

app_name = "crm"
urlpatterns = [
    path("", views.member_list, name="member_list"),
]
