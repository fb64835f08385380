import pytest
from django.urls import reverse

from providers.services import provider_check_health
from tests.fakes.provider_server import FAKE_API_KEY


@pytest.fixture(autouse=True)
def _no_retries(settings):
    settings.PROVIDER_MAX_RETRIES = 0


def test_the_api_lists_providers_with_health_and_no_key_material(user_client, make_provider):
    provider = provider_check_health(provider=make_provider(kind="openai", name="Prod OpenAI"))

    response = user_client.get("/api/v1/providers/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    item = body["results"][0]
    assert item["name"] == "Prod OpenAI"
    assert item["kind"] == "openai"
    assert item["has_key"] is True
    assert item["key_last4"] == "abcd"
    assert item["supports_fine_tuning"] is True
    assert item["health"]["status"] == "healthy"
    assert item["health"]["ok"] is True
    assert item["health"]["latency_ms"] == provider.health_latency_ms
    assert "gpt-4o-mini" in item["models"]
    assert "api_key_encrypted" not in item
    assert FAKE_API_KEY not in response.content.decode()
    assert provider.api_key_encrypted not in response.content.decode()


def test_the_api_shows_one_provider(user_client, make_provider):
    provider = make_provider(kind="anthropic", name="Team Claude")

    response = user_client.get(reverse("api-provider-detail", args=[provider.pk]))

    assert response.status_code == 200
    assert response.json()["name"] == "Team Claude"
    assert response.json()["supports_fine_tuning"] is False
    assert response.json()["health"]["status"] == "not checked"
    assert FAKE_API_KEY not in response.content.decode()


def test_a_missing_provider_is_a_json_404(user_client, db):
    response = user_client.get(reverse("api-provider-detail", args=[999]))

    assert response.status_code == 404
    assert "message" in response.json()


def test_the_api_needs_authentication(client, db):
    response = client.get("/api/v1/providers/")

    assert response.status_code in (401, 403)
