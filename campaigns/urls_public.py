"""Pages members reach from their messages, without a login: /u/ (short, for SMS too)."""

from django.urls import path

from campaigns import views_public

app_name = "campaigns_public"

urlpatterns = [
    path("<str:token>/", views_public.unsubscribe, name="unsubscribe"),
]
