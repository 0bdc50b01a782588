"""Models every app shares: the audit trail of sensitive actions."""

from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from omnichannel.channels import Channel
from omnichannel.registry import Registry


@dataclass(frozen=True)
class AuditSummaryValue:
    """How an app's code in audit summaries reads (crm: `source` codes such as
    `import:members`), so the shared trail shows labels without importing the app."""

    param: str
    label: Callable[[str], str]


AUDIT_SUMMARY_VALUES: Registry[AuditSummaryValue] = Registry(
    "audit summary value", key=lambda value: value.param
)


class AuditEvent(models.Model):
    """One sensitive action: who did what to which record, when and from where.

    Written by the action's own service inside its transaction (omnichannel.audit), so an
    action that rolls back leaves no event and no committed action lacks one. The summary
    names records by number, never by personal data (no phone, email or name).
    """

    class Action(models.TextChoices):
        EXPORT = "export", _("Export")
        MERGE = "merge", _("Merge")
        UNMERGE = "unmerge", _("Undo merge")
        ERASE = "erase", _("Erasure")
        CONSENT = "consent", _("Consent change")
        API_KEY_CREATE = "api_key_create", _("API key created")
        API_KEY_REVOKE = "api_key_revoke", _("API key revoked")

    at = models.DateTimeField(_("at"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    object_type = models.CharField(_("object type"), max_length=50, blank=True)
    object_id = models.CharField(_("object ID"), max_length=50, blank=True)
    # An English msgid with %(name)s placeholders (marked with gettext_noop where it is written)
    # and its values: translated when shown, so each reader sees it in their own language.
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    summary_params = models.JSONField(_("summary values"), default=dict, blank=True)
    with_personal_data = models.BooleanField(_("with personal data"), default=False)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        # The page reads newest first, optionally by action or actor: keyset on (at, id).
        indexes = [
            models.Index(fields=["-at", "-id"], name="audit_at_idx"),
            models.Index(fields=["action", "-at", "-id"], name="audit_action_at_idx"),
            models.Index(fields=["actor", "-at", "-id"], name="audit_actor_at_idx"),
        ]
        # "read_", not "view_": the role matrix gives every view_ permission to the Analyst
        # and the Marketer; the audit trail is for admins.
        permissions = [("read_audit", _("Can read the audit trail"))]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"

    @property
    def summary_text(self) -> str:
        """The summary in the active language. A summary whose values do not fit its text (an
        event written by an older release) is shown as stored rather than breaking the page."""
        params = {key: _summary_value(key, value) for key, value in self.summary_params.items()}
        try:
            return gettext(self.summary) % params if params else gettext(self.summary)
        except (KeyError, ValueError, TypeError):
            return self.summary


def _summary_value(key: str, value):
    """Vocabulary values read as labels: a channel code as its name, a model as its plural."""
    if key == "channel" and value in Channel.values:
        return Channel(value).label
    registered = AUDIT_SUMMARY_VALUES.get(key)
    if registered is not None and isinstance(value, str):
        return registered.label(value)
    if key == "model" and isinstance(value, str) and "." in value:
        try:
            return apps.get_model(value)._meta.verbose_name_plural
        except (LookupError, ValueError):
            return value
    return value
