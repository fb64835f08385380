import pytest
from django.core.exceptions import ValidationError

from providers.selectors import active_provider
from providers.services import provider_check_health, provider_save
from tests.providers.factories import ProviderFactory


@pytest.fixture(autouse=True)
def _no_retries(settings):
    settings.PROVIDER_MAX_RETRIES = 0


def test_active_provider_is_the_first_active_one_with_a_key(make_provider, db):
    ProviderFactory(name="A without key")
    make_provider(kind="openai", name="B inactive", is_active=False)
    chosen = make_provider(kind="anthropic", name="C with key")
    make_provider(kind="gemini", name="D with key")

    assert active_provider() == chosen


def test_active_provider_is_none_without_a_usable_provider(db):
    ProviderFactory(name="No key")

    assert active_provider() is None


def test_a_health_check_records_the_models_offered(make_provider, fake_provider_server):
    fake_provider_server.models["gemini"] = ["gemini-b", "gemini-a"]
    provider = make_provider(kind="gemini")

    provider = provider_check_health(provider=provider)

    provider.refresh_from_db()
    assert provider.health_ok is True
    assert provider.health_models == ["gemini-a", "gemini-b"]
    assert provider.health_message == "OK: 2 models listed."


def test_a_failed_check_keeps_the_models_last_seen(make_provider, fake_provider_server):
    provider = provider_check_health(provider=make_provider(kind="openai"))
    fake_provider_server.fail_next("/v1/models", status=500)

    provider = provider_check_health(provider=provider)

    provider.refresh_from_db()
    assert provider.health_ok is False
    assert "gpt-4o-mini" in provider.health_models


def test_saving_an_openai_compatible_provider_without_a_base_url_names_the_field(db):
    provider = ProviderFactory.build(kind="openai_compatible", base_url="")

    with pytest.raises(ValidationError) as raised:
        provider_save(provider=provider, api_key="sk-something-1234")

    assert "base_url" in raised.value.message_dict
    assert provider.pk is None
