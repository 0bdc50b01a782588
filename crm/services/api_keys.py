"""API keys of the brand's systems, their rate limit, and replays of retried API calls.

A key is a random secret shown once, when it is made; only its SHA-256 hash is stored, so a
leaked database holds no usable key. (The key has 256 random bits: a fast hash is enough, and it
survives a rotation of SECRET_KEY, which an HMAC keyed on it would not.)

A call sent with an `Idempotency-Key` header is recorded with its response; the same call sent
again within IDEMPOTENCY_TTL gets that response back and writes nothing.
"""

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from crm.models import ApiKey, IdempotencyRecord
from omnichannel.api.scopes import DEFAULT_SCOPES, Scope, scopes_normalise
from omnichannel.audit import audit_record
from omnichannel.channels import Channel
from omnichannel.models import AuditEvent
from omnichannel.ratelimit import rate_limit_hit

KEY_BYTES = 32  # token_urlsafe(32): 43 characters
PREFIX_LENGTH = 8
AUDIT_KEY_CREATED = gettext_noop("Key %(prefix)s… “%(name)s” for %(channel)s")
AUDIT_KEY_REVOKED = gettext_noop("Key %(prefix)s… “%(name)s”")
AUDIT_KEY_SCOPES = gettext_noop("Key %(prefix)s… “%(name)s”: scopes %(scopes)s")
# Not one of AuditEvent.Action's choices (adding one would cost omnichannel a migration); the
# trail shows it as written, as it does campaigns' "campaign.launched".
AUDIT_ACTION_SCOPES = "api_key_scopes"
IDEMPOTENCY_TTL = timedelta(hours=24)
# last_used_at is written at most once a minute per key, not on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)
RATE_WINDOW_SECONDS = 60
PURGE_BATCH = 10_000  # expired idempotency records deleted per statement

ERROR_NAME_REQUIRED = _("Give the key a name that says which system uses it.")
ERROR_NAME_TAKEN = _("A key with this name already exists.")
ERROR_CHANNEL = _("Unknown channel %(channel)s; the channels are %(known)s.")
ERROR_SCOPES_REQUIRED = _("Give the key at least one scope.")
ERROR_SCOPE_UNKNOWN = _("Unknown scope %(scope)s; the scopes are %(known)s.")
ERROR_UNKNOWN_KEY = _("Unknown API key.")
ERROR_REVOKED = _("This API key was revoked on %(date)s.")
ERROR_IDEMPOTENCY_REUSED = _(
    "This Idempotency-Key was already used with a different request; "
    "use a new key for a new request."
)


class ApiKeyError(ValueError):
    pass


class ApiKeyUnknown(ApiKeyError):
    pass


class ApiKeyRevoked(ApiKeyError):
    pass


class IdempotencyKeyReused(ValueError):
    pass


def api_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_scopes_check(scopes: Iterable[str]) -> list[str]:
    """The scopes, known, each once, in Scope's order. Raises ApiKeyError for none or an
    unknown one."""
    scopes = list(scopes)
    try:
        checked = scopes_normalise(scopes)
    except ValueError as exc:
        raise ApiKeyError(
            ERROR_SCOPE_UNKNOWN % {"scope": str(exc), "known": ", ".join(Scope.values)}
        ) from None
    if not checked:
        raise ApiKeyError(ERROR_SCOPES_REQUIRED)
    return checked


def api_key_create(
    *, name: str, channel: str, actor, scopes: Iterable[str] = DEFAULT_SCOPES
) -> tuple[ApiKey, str]:
    """A new key for one system and channel with these scopes (an ingest key by default), and
    the key itself (shown once, never stored).

    Raises ApiKeyError for a missing or taken name, an unknown channel, or no or an unknown
    scope.
    """
    name = name.strip()
    if not name:
        raise ApiKeyError(ERROR_NAME_REQUIRED)
    if channel not in Channel.values:
        raise ApiKeyError(ERROR_CHANNEL % {"channel": channel, "known": ", ".join(Channel.values)})
    scopes = api_key_scopes_check(scopes)
    key = secrets.token_urlsafe(KEY_BYTES)
    try:
        with transaction.atomic():
            api_key = ApiKey.objects.create(
                name=name,
                channel=channel,
                prefix=key[:PREFIX_LENGTH],
                scopes=scopes,
                secret_hash=api_key_hash(key),
                created_by=actor,
            )
            audit_record(
                action=AuditEvent.Action.API_KEY_CREATE,
                actor=actor,
                object_type="crm.apikey",
                object_id=api_key.pk,
                summary=AUDIT_KEY_CREATED,
                summary_params={"prefix": api_key.prefix, "name": name, "channel": channel},
            )
    except IntegrityError:
        raise ApiKeyError(ERROR_NAME_TAKEN) from None
    return api_key, key


def api_key_revoke(*, api_key: ApiKey, actor) -> ApiKey:
    """Revoke the key from now on; revoking a revoked key changes nothing."""
    # Conditional UPDATE: two admins revoking at once keep the first date and actor.
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=actor
        )
        if revoked:
            audit_record(
                action=AuditEvent.Action.API_KEY_REVOKE,
                actor=actor,
                object_type="crm.apikey",
                object_id=api_key.pk,
                summary=AUDIT_KEY_REVOKED,
                summary_params={"prefix": api_key.prefix, "name": api_key.name},
            )
    api_key.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return api_key


def api_key_scopes_set(*, api_key: ApiKey, scopes: Iterable[str], actor) -> ApiKey:
    """Give the key exactly these scopes, from its next call on; audited when they change.

    Raises ApiKeyError for no or an unknown scope.
    """
    scopes = api_key_scopes_check(scopes)
    with transaction.atomic():
        # Conditional UPDATE: only a real change writes (and is audited).
        changed = ApiKey.objects.filter(pk=api_key.pk).exclude(scopes=scopes).update(scopes=scopes)
        if changed:
            audit_record(
                action=AUDIT_ACTION_SCOPES,
                actor=actor,
                object_type="crm.apikey",
                object_id=api_key.pk,
                summary=AUDIT_KEY_SCOPES,
                summary_params={
                    "prefix": api_key.prefix,
                    "name": api_key.name,
                    "scopes": ", ".join(scopes),
                },
            )
    api_key.refresh_from_db(fields=["scopes"])
    return api_key


def api_key_has_scope(*, api_key: ApiKey, scopes: Iterable[str]) -> bool:
    """Whether the key holds one of `scopes` (none given: no key does; fail closed)."""
    held = set(api_key.scopes or [])
    return any(str(scope) in held for scope in scopes)


def api_key_authenticate(*, key: str) -> ApiKey:
    """The ApiKey of this secret, its last use noted. Raises ApiKeyUnknown or ApiKeyRevoked."""
    api_key = ApiKey.objects.filter(secret_hash=api_key_hash(key)).first()
    if api_key is None:
        raise ApiKeyUnknown(ERROR_UNKNOWN_KEY)
    if api_key.revoked_at is not None:
        local = timezone.localtime(api_key.revoked_at)
        raise ApiKeyRevoked(ERROR_REVOKED % {"date": f"{local:%Y-%m-%d %H:%M}"})
    now = timezone.now()
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def api_key_rate_check(*, api_key: ApiKey, limit: int) -> int | None:
    """Count one call of this key; the seconds to wait when it is over `limit` calls a minute.

    A fixed window per minute in the shared cache (omnichannel.ratelimit).
    """
    # The hash, not the pk: pks are reused after a test rolls back, hashes are not.
    return rate_limit_hit(
        key=f"api:{api_key.secret_hash[:24]}", limit=limit, window_seconds=RATE_WINDOW_SECONDS
    )


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict


def idempotency_request_hash(*, method: str, path: str, data: Any) -> str:
    """The fingerprint of a request: its method, path and the canonical form of its JSON data.

    Canonical (keys sorted, no whitespace), so a retry that re-serialises the same data with
    other spacing or key order replays the first answer instead of being refused as different.
    """
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(canonical.encode())
    return digest.hexdigest()


def idempotency_begin(
    *, api_key: ApiKey, key: str, request_hash: str, now: datetime | None = None
) -> IdempotencyRecord | StoredResponse:
    """Claim `key` for this request, or the response an earlier identical request got.

    Call it inside the transaction that does the request's writes, and finish with
    idempotency_complete: the claim commits with the writes or not at all. Raises
    IdempotencyKeyReused when the key was used for a different request.
    """
    now = now or timezone.now()
    # Two retries racing: the second INSERT waits on the unique index until the first
    # transaction ends, then fails and reads the committed record (or succeeds if it rolled back).
    # A record older than the TTL no longer holds its key: it is deleted when it is in the way
    # (not before every claim: that DELETE cost every write a statement that almost never
    # finds anything), and the key claimed again.
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    api_key=api_key, key=key, request_hash=request_hash, created_at=now
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
        if existing is None:  # purged since the INSERT failed: claim it again
            continue
        if existing.created_at < now - IDEMPOTENCY_TTL:
            IdempotencyRecord.objects.filter(pk=existing.pk).delete()
            continue
        if existing.request_hash != request_hash:
            raise IdempotencyKeyReused(ERROR_IDEMPOTENCY_REUSED)
        return StoredResponse(status_code=existing.status_code, body=existing.response_body)
    raise IntegrityError(f"idempotency key {key!r} could not be claimed")


def idempotency_complete(*, record: IdempotencyRecord, status_code: int, body: dict) -> None:
    """Store the response of a claimed request, for its retries."""
    record.status_code = status_code
    record.response_body = body
    record.save(update_fields=["status_code", "response_body"])


def idempotency_records_purge(*, now: datetime | None = None, batch_size: int = PURGE_BATCH) -> int:
    """Delete records past their TTL, `batch_size` at a time; returns how many went.

    Safe to run twice, or beside a running purge: a record deleted already is simply not found.
    Each batch is its own short DELETE (through the created_at index), so the API's inserts
    never wait behind one long delete of a day's calls.
    """
    cutoff = (now or timezone.now()) - IDEMPOTENCY_TTL
    expired = IdempotencyRecord.objects.filter(created_at__lt=cutoff).order_by()
    purged = 0
    while ids := list(expired.values_list("pk", flat=True)[:batch_size]):
        purged += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]
    return purged
