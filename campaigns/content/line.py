"""LINE content: {"messages": [text | image | flex, …]}, 1–5 messages, LINE's own limits.

- text: non-empty, at most 5,000 characters.
- image: `originalContentUrl` and `previewImageUrl`, https, at most 2,000 characters each.
- flex: `altText` (at most 400 characters) and `contents`, a bubble or carousel valid per LINE's
  schema, checked with the SDK's own models (linebot.v3.messaging.FlexContainer); `contents`
  may be given as a JSON string (pasted from the Flex Message Simulator) and is then parsed.

Personalisation goes into the text of text messages, a Flex message's altText and the text of
its text and span components.
"""

import json

from django.utils.translation import gettext_lazy as _
from linebot.v3.messaging import FlexContainer

from campaigns.content import ContentError

MAX_MESSAGES = 5
MAX_TEXT = 5000
MAX_URL = 2000
MAX_ALT_TEXT = 400

ERROR_NO_MESSAGES = _("Add at least one LINE message.")
ERROR_TOO_MANY = _("LINE sends at most %(max)d messages at once.")
ERROR_NOT_A_MESSAGE = _("Each LINE message must be an object with a type.")
ERROR_TYPE = _("LINE messages here are text, image or Flex (not “%(type)s”).")
ERROR_TEXT_EMPTY = _("Write the text of this LINE message.")
ERROR_TEXT_LONG = _("A LINE text message has at most %(max)d characters (this one has %(n)d).")
ERROR_URL_MISSING = _("Give the image's address.")
ERROR_URL_HTTPS = _("LINE takes images only from https:// addresses.")
ERROR_URL_LONG = _("An image address has at most %(max)d characters.")
ERROR_ALT_MISSING = _("A Flex message needs an alternative text (shown in notifications).")
ERROR_ALT_LONG = _("The alternative text has at most %(max)d characters (this one has %(n)d).")
ERROR_FLEX_MISSING = _("A Flex message needs its contents (a bubble or a carousel).")
ERROR_FLEX_JSON = _("The Flex contents are not valid JSON: %(error)s")
ERROR_FLEX_SCHEMA = _("The Flex contents do not follow LINE's schema: %(error)s")

FLEX_TEXT_TYPES = ("text", "span")
FLEX_SUMMARY_TEXTS = 6


def _flex_contents(message: dict):
    """The Flex contents as a dict (parsed when given as a JSON string); raises ValueError."""
    contents = message.get("contents")
    if isinstance(contents, str):
        contents = json.loads(contents)
    return contents


def _schema_error(error: Exception) -> str:
    words = " ".join(str(error).split())
    return words[:300]


def _validate_message(index: int, message) -> list[ContentError]:
    prefix = f"messages.{index}"
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return [ContentError(prefix, str(ERROR_NOT_A_MESSAGE))]
    kind = message["type"]
    errors: list[ContentError] = []
    if kind == "text":
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            errors.append(ContentError(f"{prefix}.text", str(ERROR_TEXT_EMPTY)))
        elif len(text) > MAX_TEXT:
            errors.append(
                ContentError(
                    f"{prefix}.text", str(ERROR_TEXT_LONG % {"max": MAX_TEXT, "n": len(text)})
                )
            )
    elif kind == "image":
        for key in ("originalContentUrl", "previewImageUrl"):
            url = message.get(key)
            field = f"{prefix}.{key}"
            if not isinstance(url, str) or not url.strip():
                errors.append(ContentError(field, str(ERROR_URL_MISSING)))
            elif not url.startswith("https://"):
                errors.append(ContentError(field, str(ERROR_URL_HTTPS)))
            elif len(url) > MAX_URL:
                errors.append(ContentError(field, str(ERROR_URL_LONG % {"max": MAX_URL})))
    elif kind == "flex":
        alt = message.get("altText")
        if not isinstance(alt, str) or not alt.strip():
            errors.append(ContentError(f"{prefix}.altText", str(ERROR_ALT_MISSING)))
        elif len(alt) > MAX_ALT_TEXT:
            errors.append(
                ContentError(
                    f"{prefix}.altText",
                    str(ERROR_ALT_LONG % {"max": MAX_ALT_TEXT, "n": len(alt)}),
                )
            )
        errors.extend(_validate_flex(f"{prefix}.contents", message))
    else:
        errors.append(ContentError(f"{prefix}.type", str(ERROR_TYPE % {"type": kind})))
    return errors


def _validate_flex(field: str, message: dict) -> list[ContentError]:
    if message.get("contents") in (None, "", {}):
        return [ContentError(field, str(ERROR_FLEX_MISSING))]
    try:
        contents = _flex_contents(message)
    except ValueError as error:
        return [ContentError(field, str(ERROR_FLEX_JSON % {"error": error}))]
    if not isinstance(contents, dict):
        return [ContentError(field, str(ERROR_FLEX_MISSING))]
    try:
        # The SDK's generated models are LINE's published schema; a pydantic ValidationError
        # (a ValueError) or an unknown discriminator names what LINE would refuse.
        FlexContainer.from_dict(contents)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        return [ContentError(field, str(ERROR_FLEX_SCHEMA % {"error": _schema_error(error)}))]
    return []


def validate(content: dict) -> list[ContentError]:
    messages = content.get("messages")
    if not isinstance(messages, list) or not messages:
        return [ContentError("messages", str(ERROR_NO_MESSAGES))]
    errors: list[ContentError] = []
    if len(messages) > MAX_MESSAGES:
        errors.append(ContentError("messages", str(ERROR_TOO_MANY % {"max": MAX_MESSAGES})))
    for index, message in enumerate(messages):
        errors.extend(_validate_message(index, message))
    return errors


def _flex_texts(node, path: str):
    """(path, text) of every text and span component under a Flex node."""
    if isinstance(node, dict):
        if node.get("type") in FLEX_TEXT_TYPES and isinstance(node.get("text"), str):
            yield path, node["text"]
        for key, value in node.items():
            if isinstance(value, dict | list):
                yield from _flex_texts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _flex_texts(value, f"{path}.{index}")


def _flex_render(node, substitute):
    if isinstance(node, dict):
        rendered = {key: _flex_render(value, substitute) for key, value in node.items()}
        if node.get("type") in FLEX_TEXT_TYPES and isinstance(node.get("text"), str):
            rendered["text"] = substitute(node["text"])
        return rendered
    if isinstance(node, list):
        return [_flex_render(value, substitute) for value in node]
    return node


def texts(content: dict) -> list[tuple[str, str]]:
    found = []
    for index, message in enumerate(content.get("messages") or []):
        if not isinstance(message, dict):
            continue
        prefix = f"messages.{index}"
        if message.get("type") == "text":
            found.append((f"{prefix}.text", str(message.get("text", ""))))
        elif message.get("type") == "flex":
            found.append((f"{prefix}.altText", str(message.get("altText", ""))))
            try:
                contents = _flex_contents(message)
            except ValueError:
                continue
            found.extend(_flex_texts(contents, f"{prefix}.contents"))
    return found


def render(content: dict, substitute) -> dict:
    messages = []
    for message in content.get("messages") or []:
        if message.get("type") == "text":
            message = {**message, "text": substitute(message.get("text", ""))}
        elif message.get("type") == "flex":
            # Sent as an object: a JSON string from the builder is parsed once, here.
            contents = _flex_contents(message)
            message = {
                **message,
                "altText": substitute(message.get("altText", "")),
                "contents": _flex_render(contents, substitute),
            }
        messages.append(message)
    return {**content, "messages": messages}


def flex_summary(contents) -> dict:
    """What a Flex message shows, for a preview: its kind, how many bubbles, its first texts."""
    try:
        contents = _flex_contents({"contents": contents})
    except ValueError:
        return {"kind": "", "bubbles": 0, "texts": []}
    if not isinstance(contents, dict):
        return {"kind": "", "bubbles": 0, "texts": []}
    kind = contents.get("type", "")
    bubbles = len(contents.get("contents") or []) if kind == "carousel" else 1
    texts = [text for _path, text in _flex_texts(contents, "") if text.strip()]
    return {"kind": kind, "bubbles": bubbles, "texts": texts[:FLEX_SUMMARY_TEXTS]}
