"""Tracked links and opens: the codes, the links found in a message, and the rewrite at send.

A tracked link is `<public base>/r/<code>`, the e-mail open pixel `<public base>/o/<code>.gif`.
The code names one delivery and one link of its message, without a row per delivery:

    code = <link number: 1 base62 character> <MAC: 8 base62 characters> <base62(delivery id)>

The MAC is Django's salted_hmac (keyed with SECRET_KEY) over "delivery:number", cut to 8 base62
characters (≈ 47.6 bits): a code cannot be made up or walked through (changing a digit of the
delivery id breaks the MAC). Number 0 is the message itself (the open pixel, the push's
tracking code); links are numbered 1..61 in the order they first appear in the content (one
number per distinct URL, per variant and channel). A code is 10–15 characters for delivery ids
below 62⁶ (56 billion), so an SMS link costs at most `TRACKED_URL_STAND_IN` characters.

Which URLs are rewritten (per channel, the same walk finds them for TrackedLink rows at save
and rewrites them at send):
- LINE: http(s) URLs in text messages, and the `uri` of every action in a Flex message
  (image messages' picture URLs are pictures, not links);
- e-mail: `href`s of the HTML part (not `src`: images are not clicks) and URLs in the plain
  text part; the open pixel is added at the end of the HTML;
- SMS: URLs in the text;
- push: `url` (where a tap leads).
A URL that holds a personalisation field ({{member_no}}) is not tracked: it differs per member.
"""

import hashlib
import ipaddress
import json
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.signing import b62_decode, b62_encode
from django.utils.crypto import constant_time_compare, salted_hmac

CODE_SALT = "campaigns.tracking.code"
IP_SALT = "campaigns.tracking.ip"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MAC_LENGTH = 8
MAX_LINKS = len(ALPHABET) - 1  # numbers 1..61; number 0 is the message itself
OPEN_NUMBER = 0
URL_MAX = 2000  # TrackedLink.url
# The longest code: delivery ids below 62**6 (56,800,235,584).
CODE_MAX_LENGTH = 1 + MAC_LENGTH + 6
CODE_PATTERN = re.compile(rf"^[0-9A-Za-z]{{{MAC_LENGTH + 2},{MAC_LENGTH + 12}}}$")

# A URL: ASCII URL characters only (a Chinese character after a link ends it); trailing
# punctuation is the sentence's, not the link's.
URL_PATTERN = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%()]+", re.IGNORECASE)
TRAILING = ".,;:!?)]"
HREF_PATTERN = re.compile(r"""(\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)

# utm_medium per channel, as GA4's default channel groups read it: "email" → Email, "sms" →
# SMS, "push" → Mobile Push Notifications; LINE (an official account's messages) reads as
# social with utm_source "line" (on GA4's list of social sources).
UTM_MEDIUM = {"line": "social", "email": "email", "sms": "sms", "push": "push"}


# --- codes -------------------------------------------------------------------------------


def _mac(delivery_id: int, number: int) -> str:
    digest = salted_hmac(CODE_SALT, f"{delivery_id}:{number}", algorithm="sha256").digest()
    return b62_encode(int.from_bytes(digest[:8], "big") % 62**MAC_LENGTH).rjust(MAC_LENGTH, "0")


def tracking_code(*, delivery_id: int, number: int) -> str:
    if not 0 <= number <= MAX_LINKS or delivery_id < 0:
        raise ValueError(f"no code for delivery {delivery_id}, link {number}")
    return ALPHABET[number] + _mac(delivery_id, number) + b62_encode(delivery_id)


def tracking_code_read(code: str) -> tuple[int, int] | None:
    """(delivery id, link number) of a genuine code; None for a forged or mangled one."""
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        return None
    number = ALPHABET.index(code[0])
    mac = code[1 : 1 + MAC_LENGTH]
    delivery_id = b62_decode(code[1 + MAC_LENGTH :])
    if not constant_time_compare(mac, _mac(delivery_id, number)):
        return None
    return delivery_id, number


def public_base() -> str:
    return settings.OMNICHANNEL_PUBLIC_URL


def tracked_url(*, delivery_id: int, number: int) -> str:
    return f"{public_base()}/r/{tracking_code(delivery_id=delivery_id, number=number)}"


def open_pixel_url(*, delivery_id: int) -> str:
    return f"{public_base()}/o/{tracking_code(delivery_id=delivery_id, number=OPEN_NUMBER)}.gif"


def tracked_url_stand_in() -> str:
    """A tracked URL of the longest code: what the SMS counter counts for each link."""
    return f"{public_base()}/r/{'x' * CODE_MAX_LENGTH}"


# --- links in content --------------------------------------------------------------------


def _urls_in_text(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of every http(s) URL in plain text, trailing punctuation left out; a
    URL followed by a personalisation field is skipped (it changes per member)."""
    found = []
    for match in URL_PATTERN.finditer(text):
        url = match.group(0)
        while url and url[-1] in TRAILING:
            # A closing bracket that opened inside the URL belongs to it (Wikipedia-style).
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        end = match.start() + len(url)
        if text.startswith("{{", end) or "://" not in url:
            continue
        found.append((match.start(), end, url))
    return found


def _rewrite_text(text: str, replace: Callable[[str], str | None]) -> str:
    parts = []
    last = 0
    for start, end, url in _urls_in_text(text):
        new = replace(url)
        if new is None:
            continue
        parts.append(text[last:start])
        parts.append(new)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _rewrite_html(html: str, replace: Callable[[str], str | None]) -> str:
    def one(match: re.Match) -> str:
        value = match.group(3).strip()
        if "{{" in value or not URL_PATTERN.fullmatch(value.replace("&amp;", "&")):
            return match.group(0)
        new = replace(value.replace("&amp;", "&"))
        if new is None:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{new}{match.group(2)}"

    return HREF_PATTERN.sub(one, html)


def _rewrite_flex(node, replace):
    if isinstance(node, dict):
        out = {key: _rewrite_flex(value, replace) for key, value in node.items()}
        uri = node.get("uri")
        if isinstance(uri, str) and URL_PATTERN.fullmatch(uri) and "{{" not in uri:
            new = replace(uri)
            if new is not None:
                out["uri"] = new
        return out
    if isinstance(node, list):
        return [_rewrite_flex(value, replace) for value in node]
    return node


def content_links_rewrite(
    *, channel: str, content: dict, replace: Callable[[str], str | None]
) -> dict:
    """The content with each link URL replaced by `replace(url)` (None: left as it is).
    `replace` is called for each link in the order the content shows them."""
    if channel == "line":
        messages = []
        for message in content.get("messages") or []:
            if isinstance(message, dict) and message.get("type") == "text":
                message = {**message, "text": _rewrite_text(str(message.get("text", "")), replace)}
            elif isinstance(message, dict) and message.get("type") == "flex":
                contents = message.get("contents")
                if isinstance(contents, str):
                    try:
                        contents = json.loads(contents)
                    except ValueError:
                        contents = None
                if isinstance(contents, dict):
                    message = {**message, "contents": _rewrite_flex(contents, replace)}
            messages.append(message)
        return {**content, "messages": messages}
    if channel == "email":
        rendered = {**content}
        if content.get("html"):
            rendered["html"] = _rewrite_html(str(content["html"]), replace)
        if content.get("text"):
            rendered["text"] = _rewrite_text(str(content["text"]), replace)
        return rendered
    if channel == "sms":
        return {**content, "text": _rewrite_text(str(content.get("text") or ""), replace)}
    if channel == "push":
        url = str(content.get("url") or "")
        if url and "{{" not in url and URL_PATTERN.fullmatch(url):
            new = replace(url)
            if new is not None:
                return {**content, "url": new}
        return content
    return content


def content_links(*, channel: str, content: dict) -> list[str]:
    """The distinct link URLs of a content, in the order they first appear (at most
    MAX_LINKS; links past that, and URLs longer than URL_MAX, are not tracked)."""
    seen: dict[str, None] = {}

    def note(url: str) -> None:
        if len(url) <= URL_MAX:
            seen.setdefault(url, None)

    content_links_rewrite(channel=channel, content=content, replace=note)
    return list(seen)[:MAX_LINKS]


def email_with_pixel(html: str, *, delivery_id: int) -> str:
    """The HTML with the open pixel as its last image (before </body> when there is one)."""
    pixel = (
        f'<img src="{open_pixel_url(delivery_id=delivery_id)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" aria-hidden="true">'
    )
    index = html.lower().rfind("</body>")
    if index == -1:
        return html + pixel
    return html[:index] + pixel + html[index:]


# --- the redirect ------------------------------------------------------------------------


def utm_merge(url: str, utm: dict[str, str]) -> str:
    """`url` with the utm_* parameters added; its own parameters (utm_* included) are kept."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    query += [(key, value) for key, value in utm.items() if value and key not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


def utm_for(*, channel: str, campaign_id: int, utm_campaign: str, variant: str) -> dict:
    return {
        "utm_source": channel,
        "utm_medium": UTM_MEDIUM.get(channel, channel),
        "utm_campaign": utm_campaign or str(campaign_id),
        "utm_content": variant,
    }


# --- who is asking -----------------------------------------------------------------------

# Link scanners and preview fetchers that open every link in a message (mail security
# gateways, LINE's and chat apps' link previews, scripts). A click by one is recorded and
# flagged, not counted as the member's.
SCANNER_PATTERN = re.compile(
    r"bot\b|bot/|crawler|spider|scanner|preview|facebookexternalhit|line-poker|slackbot|"
    r"whatsapp|telegrambot|skypeuripreview|barracuda|proofpoint|mimecast|python-requests|"
    r"python-urllib|curl/|wget/|go-http-client|okhttp|headlesschrome|^java/",
    re.IGNORECASE,
)
# Apple Mail Privacy Protection fetches every image through Apple's proxies when the message
# arrives, with the bare user agent "Mozilla/5.0", from Apple's 17.0.0.0/8.
MPP_USER_AGENT = "Mozilla/5.0"
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")


def is_link_scanner(user_agent: str) -> bool:
    return not user_agent.strip() or bool(SCANNER_PATTERN.search(user_agent))


def is_machine_open(*, user_agent: str, ip: str | None) -> bool:
    if user_agent.strip() == MPP_USER_AGENT:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    return address.version == 4 and address in APPLE_NETWORK


def ip_hash(ip: str | None) -> str:
    """A keyed hash of the client's address (to tell repeat requests apart, never the address)."""
    if not ip:
        return ""
    return hashlib.sha256(salted_hmac(IP_SALT, ip).digest()).hexdigest()[:32]


def content_track(*, channel: str, content: dict, delivery_id: int, links: dict[str, int]) -> dict:
    """A delivery's personalised content as it is sent: each tracked link (`links`: {url:
    number}) replaced by its tracked URL, the open pixel in an e-mail's HTML, the open code in
    a push (the app reports it back when the push is opened)."""
    if links:
        content = content_links_rewrite(
            channel=channel,
            content=content,
            replace=lambda url: (
                tracked_url(delivery_id=delivery_id, number=links[url]) if url in links else None
            ),
        )
    if channel == "email" and content.get("html"):
        content = {
            **content,
            "html": email_with_pixel(str(content["html"]), delivery_id=delivery_id),
        }
    elif channel == "push":
        content = {
            **content,
            "tracking": tracking_code(delivery_id=delivery_id, number=OPEN_NUMBER),
        }
    return content
