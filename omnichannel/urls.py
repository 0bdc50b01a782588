from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import set_language

from omnichannel import views
from omnichannel.api.core import api, api_routers_install

api_routers_install()  # each app's router on the one /api/v1/ object

admin.site.site_header = _("Omnichannel admin")
admin.site.site_title = _("Omnichannel")

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The language switch also works on the login page, before anyone is logged in.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("audit/", views.audit_log, name="audit"),
    path("members/", include("crm.urls")),
    path("imports/", include("crm.urls_imports")),
    path("segments/", include("crm.urls_segments")),
    path("campaigns/", include("campaigns.urls")),
    path("loyalty/", include("loyalty.urls")),
    path("wallet/", include("loyalty.urls_wallet")),
    path("kpis/", include("omnichannel.kpis.urls")),
    path("hooks/", include("campaigns.urls_hooks")),
    path("u/", include("campaigns.urls_public")),
    path("", include("campaigns.urls_tracking")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]

# Uploads (reward images) in development; a deployment serves MEDIA_ROOT from its web server.
# static() adds nothing when DEBUG is off.
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler403 = "omnichannel.views.permission_denied"
handler404 = "omnichannel.views.page_not_found"
handler500 = "omnichannel.views.server_error"
