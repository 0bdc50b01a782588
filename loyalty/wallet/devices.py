"""Which wallet a visitor's device takes, from its User-Agent (the add-to-wallet page).

- iPhone, iPad and iPod (any browser there: Chrome and Firefox on iOS still hand a .pkpass to
  Wallet), and Safari on a Mac (Wallet opens a pass there and sends it to the paired iPhone):
  Apple Wallet. iPadOS 13+ Safari asks for the desktop site and says "Macintosh": it is Safari
  on a Mac to us, so it gets Apple's button too.
- Android: Google Wallet.
- Anything else (a desktop browser, a bot, no header): both buttons, and the page's QR code to
  scan with the phone.
A wrong guess costs little: the page's "Other wallet" link always offers the other one.
"""

import re

APPLE = "apple"
GOOGLE = "google"
ANY = "any"

_IOS = re.compile(r"\b(iPhone|iPad|iPod)\b")
_ANDROID = re.compile(r"\bAndroid\b")
_MAC = re.compile(r"\bMacintosh\b")
# Chrome, Edge, Firefox and Opera on a Mac also say "Safari"; only Safari lacks these.
_NOT_SAFARI = re.compile(r"\b(Chrome|Chromium|CriOS|Edg|EdgA|EdgiOS|Firefox|FxiOS|OPR)/")


def wallet_for_user_agent(user_agent: str) -> str:
    """APPLE, GOOGLE or ANY for a User-Agent header."""
    if _IOS.search(user_agent):
        return APPLE
    if _ANDROID.search(user_agent):
        return GOOGLE
    if _MAC.search(user_agent) and "Safari/" in user_agent and not _NOT_SAFARI.search(user_agent):
        return APPLE
    return ANY
