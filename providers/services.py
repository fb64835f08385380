import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from providers import clients, crypto
from providers.models import Provider

logger = logging.getLogger(__name__)


@transaction.atomic
def provider_set_key(*, provider: Provider, api_key: str) -> Provider:
    """Store ``api_key`` encrypted; only its last four characters stay readable."""
    api_key = api_key.strip()
    if not api_key:
        raise ValueError("api_key: an API key cannot be blank.")
    provider.api_key_encrypted = crypto.encrypt(api_key)
    provider.api_key_last4 = api_key[-4:]
    provider.save(update_fields=["api_key_encrypted", "api_key_last4", "updated_at"])
    return provider


# Where the key is sent: a change of any of these without a new key clears the stored
# key, so a key never travels to a host (or organisation) it was not entered for.
CONNECTION_FIELDS = ("kind", "base_url", "organization")
HEALTH_FIELDS = ("health_checked_at", "health_ok", "health_latency_ms", "health_message")


@dataclass(frozen=True)
class ProviderSaved:
    provider: Provider
    # The connection fields whose change cleared the stored key (empty: the key stayed).
    key_cleared_by: list[str] = field(default_factory=list)


def _connection_changes(provider: Provider) -> list[str]:
    if provider.pk is None:
        return []
    stored = (
        Provider.objects.select_for_update()
        .filter(pk=provider.pk)
        .values(*CONNECTION_FIELDS, "api_key_encrypted")
        .first()
    )
    if stored is None:
        return []
    provider.api_key_encrypted = stored["api_key_encrypted"]
    return [name for name in CONNECTION_FIELDS if stored[name] != getattr(provider, name)]


@transaction.atomic
def provider_save(*, provider: Provider, api_key: str = "") -> ProviderSaved:
    """Save the provider's settings; a blank ``api_key`` keeps the stored one, unless the
    kind, base URL or organisation changed: then the stored key is cleared."""
    provider.full_clean()
    changed = _connection_changes(provider)
    cleared = changed if changed and provider.has_key and not api_key.strip() else []
    if cleared:
        provider.api_key_encrypted = ""
        provider.api_key_last4 = ""
    if changed:
        # The last check was of another endpoint.
        for name in HEALTH_FIELDS:
            setattr(provider, name, None if name != "health_message" else "")
    provider.save()
    if api_key.strip():
        provider_set_key(provider=provider, api_key=api_key)
    if cleared:
        logger.warning(
            "Provider %s: stored key cleared (%s changed).", provider.name, ", ".join(cleared)
        )
    return ProviderSaved(provider=provider, key_cleared_by=cleared)


def provider_check_health(*, provider: Provider) -> Provider:
    """List the provider's models (a real, cheap call) and record how it went."""
    # The network call stays outside any transaction: a slow provider must not hold a
    # database connection in a transaction for up to the timeout times the retries.
    try:
        models, latency_ms = clients.list_models_timed(provider)
    except clients.ProviderError as exc:
        return _health_record(
            provider=provider, ok=False, latency_ms=None, message=str(exc), models=None
        )
    message = f"OK: {len(models)} model{'s' if len(models) != 1 else ''} listed."
    return _health_record(
        provider=provider, ok=True, latency_ms=latency_ms, message=message, models=models
    )


@transaction.atomic
def _health_record(
    *,
    provider: Provider,
    ok: bool,
    latency_ms: float | None,
    message: str,
    models: list[str] | None,
) -> Provider:
    provider.health_checked_at = timezone.now()
    provider.health_ok = ok
    provider.health_latency_ms = latency_ms
    provider.health_message = message
    # updated_at too: serving keys its caches on it, and health is part of a provider's state.
    fields = [*HEALTH_FIELDS, "updated_at"]
    if models is not None:
        # A failed check keeps the models last seen: they are still what the provider offers.
        provider.health_models = sorted(set(models))
        fields.append("health_models")
    provider.save(update_fields=fields)
    logger.info("Health check of provider %s: %s", provider.name, message)
    return provider


@transaction.atomic
def provider_keys_rotate() -> int:
    """Re-encrypt every stored key with the first key of the ring; returns how many.

    All or nothing: if one key cannot be decrypted, KeyringError names its provider and
    no row changes.
    """
    providers = Provider.objects.select_for_update().exclude(api_key_encrypted="")
    rotated = 0
    for provider in providers:
        provider.api_key_encrypted = crypto.rotate(
            provider.api_key_encrypted, provider_name=provider.name
        )
        provider.save(update_fields=["api_key_encrypted", "updated_at"])
        rotated += 1
    return rotated
