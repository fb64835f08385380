import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from providers import clients, crypto
from providers.crypto import KeyringError
from providers.models import Provider
from providers.services import provider_check_health, provider_set_key
from tests.providers.factories import ProviderFactory

API_KEY = "sk-live-plaintext-secret-9f8e7d6c5b4a"


@pytest.fixture
def old_key(settings):
    key = Fernet.generate_key().decode()
    settings.HUB_ENCRYPTION_KEYS = [key]
    return key


def _raw_stored_value(provider: Provider) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT api_key_encrypted FROM {Provider._meta.db_table} WHERE id = %s", [provider.pk]
        )
        return cursor.fetchone()[0]


def test_the_database_holds_ciphertext_only(db, old_key):
    provider = ProviderFactory()

    provider_set_key(provider=provider, api_key=API_KEY)

    raw = _raw_stored_value(provider)
    assert raw
    assert API_KEY not in raw
    assert API_KEY[-8:] not in raw
    assert crypto.decrypt(raw, provider_name=provider.name) == API_KEY
    provider.refresh_from_db()
    assert provider.api_key_last4 == "5b4a"


def test_rotation_reencrypts_with_the_first_key_and_everything_still_decrypts(
    db, settings, old_key
):
    providers = [ProviderFactory() for _ in range(3)]
    for i, provider in enumerate(providers):
        provider_set_key(provider=provider, api_key=f"{API_KEY}-{i}")
    before = [_raw_stored_value(p) for p in providers]
    new_key = Fernet.generate_key().decode()
    settings.HUB_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_provider_keys", stdout=io.StringIO())

    after = [_raw_stored_value(p) for p in providers]
    assert all(b != a for b, a in zip(before, after, strict=True))
    # Only the new key is needed from now on: the old one can be retired.
    settings.HUB_ENCRYPTION_KEYS = [new_key]
    for i, (provider, token) in enumerate(zip(providers, after, strict=True)):
        assert crypto.decrypt(token, provider_name=provider.name) == f"{API_KEY}-{i}"


def test_rotation_reports_how_many_keys_it_reencrypted(db, settings, old_key, capsys):
    provider_set_key(provider=ProviderFactory(), api_key=API_KEY)
    ProviderFactory()  # no key: nothing to rotate
    settings.HUB_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old_key]

    call_command("rotate_provider_keys")

    assert "Re-encrypted 1 provider key with the first key." in capsys.readouterr().out


def test_rotation_without_the_old_key_names_the_provider_and_changes_nothing(db, settings, old_key):
    provider = ProviderFactory(name="Prod OpenAI")
    provider_set_key(provider=provider, api_key=API_KEY)
    before = _raw_stored_value(provider)
    settings.HUB_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(CommandError) as raised:
        call_command("rotate_provider_keys")

    assert "Prod OpenAI" in str(raised.value)
    assert API_KEY not in str(raised.value)
    assert _raw_stored_value(provider) == before


def test_a_wrong_key_ring_gives_a_clear_error_naming_the_provider(db, settings, old_key):
    provider = ProviderFactory(name="Team Anthropic")
    provider_set_key(provider=provider, api_key=API_KEY)
    settings.HUB_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(KeyringError) as raised:
        crypto.decrypt(provider.api_key_encrypted, provider_name=provider.name)

    message = str(raised.value)
    assert "Team Anthropic" in message
    assert "cannot be decrypted" in message
    assert old_key not in message and API_KEY not in message


def test_a_wrong_key_ring_surfaces_as_a_provider_error_not_a_crash(db, settings, old_key):
    provider = ProviderFactory(name="Team OpenAI")
    provider_set_key(provider=provider, api_key=API_KEY)
    settings.HUB_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(clients.ProviderError, match="Team OpenAI.*cannot be decrypted"):
        clients.list_models(provider)


def test_a_wrong_key_ring_marks_the_health_check_failed_with_the_reason(db, settings, old_key):
    provider = ProviderFactory(name="Team Gemini", kind="gemini")
    provider_set_key(provider=provider, api_key=API_KEY)
    settings.HUB_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    provider = provider_check_health(provider=provider)

    assert provider.health_ok is False
    assert "cannot be decrypted" in provider.health_message


def test_an_empty_key_ring_refuses_to_encrypt(settings):
    settings.HUB_ENCRYPTION_KEYS = []

    with pytest.raises(KeyringError, match="HUB_ENCRYPTION_KEYS is empty"):
        crypto.encrypt(API_KEY)


def test_setting_a_blank_key_is_refused(db, old_key):
    with pytest.raises(ValueError, match="api_key"):
        provider_set_key(provider=ProviderFactory(), api_key="   ")
