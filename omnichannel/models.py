"""Models every app shares: the audit trail of sensitive actions."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
    summary = models.CharField(_("summary"), max_length=300, blank=True)
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
