"""Provider webhooks (thin: verify, hand the events to a service, answer fast)."""

import json
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhook import WebhookParser

from campaigns.services.line_events import line_events_process

logger = logging.getLogger(__name__)


@login_not_required  # LINE's servers: the signature is the authentication
@csrf_exempt
@require_POST
def line_webhook(request: HttpRequest) -> JsonResponse:
    """POST /hooks/line/: LINE's events, signed with the channel secret (X-Line-Signature)."""
    secret = settings.LINE_CHANNEL_SECRET
    if not secret:
        return JsonResponse({"error": "LINE_CHANNEL_SECRET is not configured"}, status=503)
    signature = request.headers.get("X-Line-Signature", "")
    if not signature:
        return JsonResponse({"error": "missing X-Line-Signature"}, status=400)
    try:
        body = request.body.decode("utf-8")
        # The SDK's parser checks the HMAC-SHA256 of the body (constant-time compare).
        WebhookParser(secret).parse(body, signature)
        events = json.loads(body).get("events") or []
    except InvalidSignatureError:
        logger.warning("LINE webhook: forged signature refused")
        return JsonResponse({"error": "invalid signature"}, status=400)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return JsonResponse({"error": "malformed body"}, status=400)
    outcome = line_events_process(events=events)
    return JsonResponse({"received": outcome.received, "replays": outcome.replays}, status=200)
