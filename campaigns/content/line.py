"""LINE content: {"messages": [text | image | flex, …]} (1–5 messages). Owner: LINE helper."""

from django.utils.translation import gettext_lazy as _

from campaigns.content import ContentError

ERROR_NO_MESSAGES = _("Add at least one LINE message.")


def validate(content: dict) -> list[ContentError]:
    messages = content.get("messages")
    if not isinstance(messages, list) or not messages:
        return [ContentError("messages", str(ERROR_NO_MESSAGES))]
    return []


def texts(content: dict) -> list[tuple[str, str]]:
    found = []
    for index, message in enumerate(content.get("messages") or []):
        if isinstance(message, dict) and message.get("type") == "text":
            found.append((f"messages.{index}.text", str(message.get("text", ""))))
    return found


def render(content: dict, substitute) -> dict:
    messages = []
    for message in content.get("messages") or []:
        if message.get("type") == "text":
            message = {**message, "text": substitute(message.get("text", ""))}
        messages.append(message)
    return {**content, "messages": messages}
