"""Tracked links and the e-mail open pixel, at the site's root so the links stay short (SMS):
/r/<code> and /o/<code>.gif. No login, no cookie, no CSRF: the code is the only credential."""

from django.urls import path

from campaigns import views_public

app_name = "campaigns_tracking"

urlpatterns = [
    path("r/<str:code>", views_public.link_redirect, name="link"),
    path("o/<str:code>.gif", views_public.open_pixel, name="open"),
]
