"""The key never reaches a log line, a page, an API response or an exception message."""

import logging

import pytest
from django.urls import reverse

from providers import clients
from providers.clients import ProviderError, redact
from providers.services import provider_check_health
from tests.fakes.provider_server import FAKE_API_KEY

SCHEMA = {"type": "object", "properties": {"x": {"type": "string"}}}


@pytest.fixture(autouse=True)
def _no_retries(settings):
    settings.PROVIDER_MAX_RETRIES = 0


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini", "openai_compatible"])
def test_the_key_never_appears_in_captured_logs(kind, make_provider, fake_provider_server, caplog):
    provider = make_provider(kind=kind)
    caplog.set_level(logging.DEBUG)  # the SDKs log requests at DEBUG

    clients.list_models(provider)
    clients.complete(provider, prompt="hi")
    clients.structured_completion(provider, instructions="x", payload={"a": 1}, json_schema=SCHEMA)
    fake_provider_server.fail_next(
        "/", status=401, body={"error": {"message": f"bad key {FAKE_API_KEY}"}}
    )
    provider_check_health(provider=provider)
    fake_provider_server.fail_next("/", status=500)
    with pytest.raises(ProviderError):
        clients.complete(provider, prompt="hi")

    assert caplog.records  # something was logged, so the assertion below means something
    assert FAKE_API_KEY not in caplog.text
    assert FAKE_API_KEY not in "".join(str(r.args) for r in caplog.records)


def test_the_key_appears_nowhere_a_user_or_staff_member_can_look(
    staff_client, make_provider, fake_provider_server
):
    provider = make_provider(kind="openai")
    fake_provider_server.fail_next(
        "/v1/models",
        status=401,
        body={"error": {"message": f"Incorrect API key provided: {FAKE_API_KEY}"}},
    )
    staff_client.post(reverse("admin:providers_provider_test_connection", args=[provider.pk]))

    urls = [
        reverse("admin:providers_provider_changelist"),
        reverse("admin:providers_provider_change", args=[provider.pk]),
        reverse("admin:providers_provider_history", args=[provider.pk]),
        reverse("providers:provider_list"),
        "/api/v1/providers/",
        reverse("api-provider-detail", args=[provider.pk]),
    ]
    for url in urls:
        response = staff_client.get(url)
        assert response.status_code == 200, url
        assert FAKE_API_KEY not in response.content.decode(), url


def test_redact_scrubs_the_key_and_key_shaped_strings():
    text = (
        f"key {FAKE_API_KEY}, masked sk-proj-****abcd, google AIzaSyA1234567890abcdef, Bearer xyz"
    )

    scrubbed = redact(text, FAKE_API_KEY)

    assert FAKE_API_KEY not in scrubbed
    assert "sk-proj" not in scrubbed
    assert "AIza" not in scrubbed
    assert "xyz" not in scrubbed


def test_redact_leaves_ordinary_words_alone():
    text = "Unknown task-classification for model gpt-4o; invalid x-api-key"

    assert redact(text, FAKE_API_KEY) == text
