import pytest
from django.urls import reverse

from providers.models import Provider
from tests.fakes.provider_server import FAKE_API_KEY

KEY = "sk-admin-typed-secret-0123456789abcd"


@pytest.fixture(autouse=True)
def _no_retries(settings):
    settings.PROVIDER_MAX_RETRIES = 0


def _form(fake_provider_server, **overrides):
    data = {
        "name": "Prod OpenAI",
        "kind": "openai",
        "base_url": f"{fake_provider_server.url}/v1",
        "organization": "",
        "default_model": "gpt-4o-mini",
        "is_active": "on",
        "api_key": KEY,
    }
    return {**data, **overrides}


def test_a_provider_created_with_a_key_shows_only_its_last_four(staff_client, fake_provider_server):
    response = staff_client.post(
        reverse("admin:providers_provider_add"), _form(fake_provider_server)
    )
    assert response.status_code == 302
    provider = Provider.objects.get(name="Prod OpenAI")

    page = staff_client.get(reverse("admin:providers_provider_change", args=[provider.pk]))

    html = page.content.decode()
    assert "key set (…abcd)" in html.lower()
    assert KEY not in html
    assert provider.api_key_encrypted not in html
    assert 'type="password"' in html


def test_the_changelist_shows_kind_model_health_and_key_status(staff_client, make_provider):
    make_provider(kind="anthropic", name="Team Claude")

    html = staff_client.get(reverse("admin:providers_provider_changelist")).content.decode()

    assert "Team Claude" in html
    assert "Anthropic" in html
    assert "claude-sonnet-4-6" in html
    assert "not checked" in html
    assert "key set (…abcd)" in html
    assert FAKE_API_KEY not in html


def test_leaving_the_key_blank_keeps_the_stored_key(
    staff_client, fake_provider_server, make_provider
):
    provider = make_provider(kind="openai", name="Prod OpenAI")
    before = provider.api_key_encrypted

    response = staff_client.post(
        reverse("admin:providers_provider_change", args=[provider.pk]),
        _form(fake_provider_server, api_key="", default_model="gpt-4.1-mini"),
    )

    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.api_key_encrypted == before
    assert provider.default_model == "gpt-4.1-mini"


def test_typing_a_new_key_replaces_the_stored_one(
    staff_client, fake_provider_server, make_provider
):
    provider = make_provider(kind="openai", name="Prod OpenAI")

    staff_client.post(
        reverse("admin:providers_provider_change", args=[provider.pk]),
        _form(fake_provider_server, api_key="sk-replacement-key-wxyz"),
    )

    provider.refresh_from_db()
    assert provider.api_key_last4 == "wxyz"


def test_a_form_error_does_not_render_the_typed_key_back(staff_client, fake_provider_server):
    response = staff_client.post(
        reverse("admin:providers_provider_add"),
        _form(fake_provider_server, kind="openai_compatible", base_url=""),
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "needs the base URL" in html
    assert KEY not in html
    assert not Provider.objects.exists()


def test_the_test_connection_button_records_ok_with_a_latency(staff_client, make_provider):
    provider = make_provider(kind="openai")
    change_url = reverse("admin:providers_provider_change", args=[provider.pk])
    button_url = reverse("admin:providers_provider_test_connection", args=[provider.pk])
    assert button_url in staff_client.get(change_url).content.decode()

    response = staff_client.post(button_url, follow=True)

    provider.refresh_from_db()
    assert provider.health_ok is True
    assert provider.health_latency_ms is not None and provider.health_latency_ms >= 0
    assert provider.health_checked_at is not None
    assert "gpt-4o-mini" in provider.health_models
    html = response.content.decode()
    assert "connection ok" in html
    assert FAKE_API_KEY not in html


def test_the_test_connection_button_refuses_get(staff_client, make_provider):
    provider = make_provider(kind="openai")

    response = staff_client.get(
        reverse("admin:providers_provider_test_connection", args=[provider.pk])
    )

    assert response.status_code == 405


def test_the_test_connection_action_checks_every_selected_provider(
    staff_client, make_provider, fake_provider_server
):
    healthy = make_provider(kind="gemini", name="Gemini")
    broken = make_provider(kind="anthropic", name="Claude")
    fake_provider_server.fail_next("/v1/models", status=401)  # the first one checked: "Claude"

    response = staff_client.post(
        reverse("admin:providers_provider_changelist"),
        {"action": "test_connection", "_selected_action": [healthy.pk, broken.pk]},
        follow=True,
    )

    healthy.refresh_from_db()
    broken.refresh_from_db()
    assert healthy.health_ok is True
    assert broken.health_ok is False
    assert "401" in broken.health_message
    html = response.content.decode()
    assert "Claude: connection failed" in html
    assert FAKE_API_KEY not in html


def test_a_401_marks_the_health_check_failed_with_a_readable_message(
    staff_client, make_provider, fake_provider_server
):
    provider = make_provider(kind="openai", name="Prod OpenAI")
    fake_provider_server.fail_next(
        "/v1/models",
        status=401,
        body={
            "error": {
                "message": f"Incorrect API key provided: {FAKE_API_KEY}.",
                "code": "invalid_api_key",
            }
        },
    )

    staff_client.post(reverse("admin:providers_provider_test_connection", args=[provider.pk]))

    provider.refresh_from_db()
    assert provider.health_ok is False
    assert provider.health_latency_ms is None
    assert "OpenAI provider “Prod OpenAI”: Incorrect API key provided" in provider.health_message
    assert "(HTTP 401)" in provider.health_message
    assert FAKE_API_KEY not in provider.health_message
    page = staff_client.get(reverse("admin:providers_provider_change", args=[provider.pk]))
    assert FAKE_API_KEY not in page.content.decode()


def test_ordinary_users_cannot_reach_the_provider_admin(user_client, make_provider):
    provider = make_provider(kind="openai")

    response = user_client.get(reverse("admin:providers_provider_change", args=[provider.pk]))

    assert response.status_code == 302


def test_a_key_ring_that_cannot_decrypt_shows_a_clear_message_not_a_crash(
    staff_client, make_provider, settings
):
    from cryptography.fernet import Fernet

    provider = make_provider(kind="openai", name="Prod OpenAI")
    settings.HUB_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    response = staff_client.post(
        reverse("admin:providers_provider_test_connection", args=[provider.pk]), follow=True
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Prod OpenAI: connection failed" in html
    assert "cannot be decrypted" in html
    provider.refresh_from_db()
    assert provider.health_ok is False
    assert (
        staff_client.get(reverse("admin:providers_provider_change", args=[provider.pk])).status_code
        == 200
    )
