"""The unused-points job: remind members of points about to expire, or of a large idle balance.

Who is due, and the period (a calendar month: at most one reminder a month), are
loyalty.reminders' rule. The runner (loyalty.services.jobs) writes one row per member and
month and splits them:
- members with the card in a wallet (`WalletPass.installed`) get a **card update** with a
  change message: the wallet itself shows the message with the new balance, which is what
  the issue asks ("the wallet reminds them of unused points by itself"). One change message
  for every card (`wallet_passes_touch` sets it set-wise): it is the automated message's push
  title, edited in the campaign builder with the rest of the message, with any personalisation
  field dropped (the card beside it shows the member's own balance); DEFAULT_WALLET_MESSAGE
  when the message has no push title. The month follows it ("… (2026/12)"): Apple Wallet
  notifies only when a field's VALUE changes, and the title alone is the same every month, so
  the second month's reminder would update the card silently; Google's message id is drawn
  from the text likewise (loyalty.wallet.google). The message stays on the back of the card
  (and in Google's card messages) until the next reminder replaces it.
- everyone else gets the automated message "loyalty.points_reminder" through their best channel,
  with {{points}}, {{points_expiring}}, {{points_expiry_date}} and {{wallet_link}}.
"""

from datetime import date, datetime

from django.utils import timezone

from campaigns.models import VARIANT_DEFAULT, Message
from campaigns.personalise import FIELD_PATTERN, personalisation_field_names
from campaigns.services import automated_message_ensure, automated_template
from loyalty.models import LoyaltyJob, LoyaltyJobRun, WalletPass
from loyalty.reminders import points_reminder_due, points_reminder_period
from loyalty.services.jobs import job_trigger, loyalty_job_run

TRIGGER = job_trigger(LoyaltyJob.POINTS_REMINDER)
WALLET_MESSAGE_MAX = 200  # WalletPass.change_message

DEFAULT_NAME = "點數到期提醒"
DEFAULT_CHANNELS = ("line", "push", "email", "sms")
DEFAULT_WALLET_MESSAGE = "您的點數即將到期，記得使用！"
WALLET_LINK_FIELD = "wallet_link"
LINE_WALLET = "\n把會員卡加入手機錢包，隨時查看點數：{{wallet_link}}"
EMAIL_WALLET = "把會員卡加入手機錢包：{{wallet_link}}\n\n"


def default_contents(*, wallet_link: bool) -> dict[str, dict]:
    """The message's first content; with the add-to-wallet link when {{wallet_link}} is a
    registered field (the wallet's add page registers it)."""
    return {
        "line": {
            "messages": [
                {
                    "type": "text",
                    "text": "{{name}} 您好，您目前有 {{points}} 點，"
                    "其中 {{points_expiring}} 點將於 {{points_expiry_date}} 到期，"
                    "記得在到期前使用喔！" + (LINE_WALLET if wallet_link else ""),
                }
            ]
        },
        "push": {
            "title": DEFAULT_WALLET_MESSAGE,
            "body": "您有 {{points}} 點，{{points_expiring}} 點將於 {{points_expiry_date}} 到期。",
        },
        "email": {
            "subject": "{{name}}，您的點數即將到期",
            "text": "{{name}} 您好：\n\n您目前有 {{points}} 點，其中 {{points_expiring}} 點將於 "
            "{{points_expiry_date}} 到期，歡迎在到期前使用。\n\n"
            + (EMAIL_WALLET if wallet_link else "")
            + "會員編號：{{member_no}}",
        },
        "sms": {
            "text": "您有{{points}}點，{{points_expiring}}點將於{{points_expiry_date}}到期，"
            "請把握使用。"
        },
    }


def points_reminder_message_ensure() -> None:
    automated_message_ensure(
        trigger=TRIGGER,
        name=DEFAULT_NAME,
        channels=DEFAULT_CHANNELS,
        contents=default_contents(wallet_link=WALLET_LINK_FIELD in personalisation_field_names()),
    )


def points_reminder_wallet_message(*, day: date) -> str:
    """The change message of the wallet card updates sent on `day`: the push title and the
    reminder's month, so each month's differs (module docstring)."""
    template = automated_template(trigger=TRIGGER)
    title = ""
    if template is not None:
        content = (
            Message.objects.filter(campaign=template, channel="push", variant=VARIANT_DEFAULT)
            .values_list("content", flat=True)
            .first()
        )
        title = (content or {}).get("title", "")
    text = " ".join(FIELD_PATTERN.sub("", title).split()) or DEFAULT_WALLET_MESSAGE
    month = f"（{day:%Y/%m}）"
    return text[: WALLET_MESSAGE_MAX - len(month)] + month


def points_reminder_job_run(
    *, day: date | None = None, now: datetime | None = None
) -> LoyaltyJobRun:
    """The unused-points job for `day` (default: today in Asia/Taipei)."""
    now = now or timezone.now()
    day = day or timezone.localdate(now)
    points_reminder_message_ensure()
    return loyalty_job_run(
        job=LoyaltyJob.POINTS_REMINDER,
        period=points_reminder_period(day=day),
        due=points_reminder_due(day=day),
        wallet=WalletPass.objects.filter(installed=True).values("member_id"),
        wallet_message=lambda: points_reminder_wallet_message(day=day),
        day=day,
        now=now,
    )
