"""The wallet card's public addresses under /wallet/ (no login: phones and Apple/Google call them).

- `add/<token>/`: the add-to-wallet page a member opens from a message or a QR code, and its
  two downloads (Apple's .pkpass, Google's save link), behind the signed link
  (loyalty.wallet.links);
- `apple/v1/…`: Apple's pass web service (APPLE_WALLET_WEB_SERVICE_URL points here);
- `google/callback`: Google Wallet's save and delete callbacks.

Each view checks its own credential (the signed token, `ApplePass <token>`, Google's signature).
"""

from django.urls import path

from loyalty import views_wallet_add

app_name = "wallet"

urlpatterns: list = [
    path("add/<str:token>/", views_wallet_add.wallet_add, name="add"),
]
