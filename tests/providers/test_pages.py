import pytest
from django.template.defaultfilters import floatformat
from django.urls import reverse

from providers.services import provider_check_health
from tests.fakes.provider_server import FAKE_API_KEY
from tests.providers.factories import ProviderFactory


@pytest.fixture(autouse=True)
def _no_retries(settings):
    settings.PROVIDER_MAX_RETRIES = 0


def test_the_page_lists_connected_providers_with_health_and_models(user_client, make_provider):
    provider = provider_check_health(provider=make_provider(kind="openai", name="Prod OpenAI"))

    html = user_client.get(reverse("providers:provider_list")).content.decode()

    assert "Prod OpenAI" in html
    assert "healthy" in html
    assert f"{floatformat(provider.health_latency_ms, 0)} ms" in html
    assert "gpt-4.1-mini" in html
    assert FAKE_API_KEY not in html
    assert provider.api_key_encrypted not in html


def test_the_page_shows_a_failing_provider_and_why(
    user_client, make_provider, fake_provider_server
):
    fake_provider_server.fail_next("/v1/models", status=401)
    provider_check_health(provider=make_provider(kind="anthropic", name="Team Claude"))

    html = user_client.get(reverse("providers:provider_list")).content.decode()

    assert "failing" in html
    assert "Invalid API key provided" in html


def test_the_page_says_plainly_which_kinds_can_fine_tune(user_client, make_provider):
    make_provider(kind="gemini")

    html = user_client.get(reverse("providers:provider_list")).content.decode()

    assert "Anthropic offers no fine-tuning through its public API" in html
    assert "Gemini API offers no fine-tuning through its public API" in html
    assert "OpenAI&#x27;s fine-tuning API" in html or "OpenAI's fine-tuning API" in html


def test_inactive_providers_are_not_listed_as_connected(user_client, db):
    ProviderFactory(name="Retired gateway", is_active=False)

    html = user_client.get(reverse("providers:provider_list")).content.decode()

    assert "Retired gateway" not in html


def test_the_empty_state_tells_users_who_adds_a_provider(user_client, db):
    html = user_client.get(reverse("providers:provider_list")).content.decode()

    assert "No providers are connected yet" in html
    assert "Ops staff add one in the admin" in html


def test_the_empty_state_links_staff_to_the_admin(staff_client):
    html = staff_client.get(reverse("providers:provider_list")).content.decode()

    assert reverse("admin:providers_provider_add") in html


def test_the_page_paginates_and_htmx_gets_only_the_table(user_client, db):
    for i in range(30):
        ProviderFactory(name=f"Provider {i:02d}")

    first = user_client.get(reverse("providers:provider_list")).content.decode()
    second = user_client.get(reverse("providers:provider_list") + "?page=2", HTTP_HX_REQUEST="true")

    assert "Page 1 of 2" in first
    html = second.content.decode()
    assert "Provider 29" in html
    assert "Provider 00" not in html
    assert "<html" not in html
    assert "Which providers can fine-tune" not in html


def test_the_page_needs_a_login(client, db):
    response = client.get(reverse("providers:provider_list"))

    assert response.status_code == 302
