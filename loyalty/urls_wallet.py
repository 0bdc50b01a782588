"""The wallet card's public addresses under /wallet/ (no login: phones and Apple/Google call them).

- `add/<token>/`: the add-to-wallet page a member opens from a message or a QR code, and its
  two downloads (Apple's .pkpass, Google's save link), behind the signed link
  (loyalty.wallet.links);
- `apple/v1/…`: Apple's pass web service (APPLE_WALLET_WEB_SERVICE_URL points here);
- `google/callback`: Google Wallet's save and delete callbacks.

Each view checks its own credential (the signed token, `ApplePass <token>`, Google's signature).
"""

from django.urls import path

from loyalty import views_wallet_add, views_wallet_google
from loyalty import views_wallet_apple as apple

app_name = "wallet"

# Apple's web service under apple/: APPLE_WALLET_WEB_SERVICE_URL + "/v1/…" as Apple calls it.
APPLE_REGISTRATIONS = "apple/v1/devices/<str:device>/registrations/<str:pass_type_id>"

urlpatterns = [
    path("add/<str:token>/", views_wallet_add.wallet_add, name="add"),
    path("add/<str:token>/apple.pkpass", apple.add_apple, name="add_apple"),
    path(
        f"{APPLE_REGISTRATIONS}/<str:serial>",
        apple.apple_registration,
        name="apple_registration",
    ),
    path(APPLE_REGISTRATIONS, apple.apple_serials, name="apple_serials"),
    path(
        "apple/v1/passes/<str:pass_type_id>/<str:serial>",
        apple.apple_pass_latest,
        name="apple_pass",
    ),
    path("apple/v1/log", apple.apple_log, name="apple_log"),
    path("add/<str:token>/google", views_wallet_google.add_google, name="add_google"),
    path("google/callback", views_wallet_google.google_callback, name="google_callback"),
]
