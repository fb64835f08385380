import json
import logging

import pytest

from providers import clients
from providers.clients import ProviderError
from tests.fakes.provider_server import FAKE_API_KEY

KINDS = ["openai", "anthropic", "gemini", "openai_compatible"]

SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["label"],
}


@pytest.fixture(autouse=True)
def _no_retries(settings):
    # Errors should surface at once; retries are the SDKs' business and tested by them.
    settings.PROVIDER_MAX_RETRIES = 0
    settings.PROVIDER_TIMEOUT_SECONDS = 5


@pytest.mark.parametrize("kind", KINDS)
def test_structured_completion_returns_the_dict_for_each_kind(
    kind, make_provider, fake_provider_server
):
    provider = make_provider(kind=kind)
    fake_provider_server.structured_answers.append({"label": "spam", "confidence": 0.9})

    result = clients.structured_completion(
        provider, instructions="Classify.", payload={"text": "buy now"}, json_schema=SCHEMA
    )

    assert result == {"label": "spam", "confidence": 0.9}


def test_openai_structured_completion_sends_the_schema_as_response_format(
    make_provider, fake_provider_server
):
    provider = make_provider(kind="openai")

    clients.structured_completion(
        provider, instructions="Classify.", payload="hi", json_schema=SCHEMA
    )

    sent = fake_provider_server.requests_to("/chat/completions")[-1].json
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    assert sent["messages"][0] == {"role": "system", "content": "Classify."}
    assert sent["model"] == provider.default_model


def test_anthropic_structured_completion_forces_a_tool_with_the_schema(
    make_provider, fake_provider_server
):
    provider = make_provider(kind="anthropic")

    clients.structured_completion(
        provider, instructions="Classify.", payload={"a": 1}, json_schema=SCHEMA
    )

    sent = fake_provider_server.requests_to("/v1/messages")[-1].json
    assert sent["tools"][0]["input_schema"] == SCHEMA
    assert sent["tool_choice"] == {"type": "tool", "name": sent["tools"][0]["name"]}
    assert sent["system"] == "Classify."
    assert json.loads(sent["messages"][0]["content"]) == {"a": 1}


def test_gemini_structured_completion_sends_the_json_schema(make_provider, fake_provider_server):
    provider = make_provider(kind="gemini", default_model="gemini-2.5-flash")

    clients.structured_completion(
        provider, instructions="Classify.", payload="hi", json_schema=SCHEMA
    )

    request = fake_provider_server.requests_to(":generateContent")[-1]
    assert request.path.endswith("/models/gemini-2.5-flash:generateContent")
    config = request.json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == SCHEMA


@pytest.mark.parametrize("kind", KINDS)
def test_complete_returns_the_text_for_each_kind(kind, make_provider, fake_provider_server):
    provider = make_provider(kind=kind)
    fake_provider_server.text_answers.append("Hello there.")

    assert clients.complete(provider, prompt="Say hello") == "Hello there."


@pytest.mark.parametrize("kind", KINDS)
def test_list_models_returns_model_ids_for_each_kind(kind, make_provider, fake_provider_server):
    provider = make_provider(kind=kind)
    api = "openai" if kind == "openai_compatible" else kind

    assert clients.list_models(provider) == fake_provider_server.models[api]


@pytest.mark.parametrize("kind", KINDS)
def test_the_decrypted_key_is_what_the_sdk_sends(kind, make_provider, fake_provider_server):
    provider = make_provider(kind=kind)

    clients.list_models(provider)

    headers = {k.lower(): v for k, v in fake_provider_server.requests[-1].headers.items()}
    sent = (
        headers.get("authorization", "").removeprefix("Bearer ")
        or headers.get("x-api-key")
        or headers.get("x-goog-api-key")
    )
    assert sent == FAKE_API_KEY


def test_openai_organization_header_is_sent(make_provider, fake_provider_server):
    provider = make_provider(kind="openai", organization="org-acme")

    clients.list_models(provider)

    headers = {k.lower(): v for k, v in fake_provider_server.requests[-1].headers.items()}
    assert headers["openai-organization"] == "org-acme"


def test_openai_project_id_goes_in_the_project_header(make_provider, fake_provider_server):
    provider = make_provider(kind="openai", organization="proj_acme")

    clients.list_models(provider)

    headers = {k.lower(): v for k, v in fake_provider_server.requests[-1].headers.items()}
    assert headers["openai-project"] == "proj_acme"
    assert "openai-organization" not in headers


@pytest.mark.parametrize("kind", KINDS)
def test_401_becomes_a_readable_provider_error_without_the_key(
    kind, make_provider, fake_provider_server, caplog
):
    provider = make_provider(kind=kind)
    fake_provider_server.fail_next(
        "/models",
        status=401,
        body={"error": {"message": f"Incorrect API key provided: {FAKE_API_KEY}"}},
    )

    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError) as raised:
        clients.list_models(provider)

    error = raised.value
    assert error.status == 401
    assert error.kind == kind
    assert "Incorrect API key provided" in str(error)
    assert provider.name in str(error)
    assert FAKE_API_KEY not in str(error)
    assert FAKE_API_KEY not in repr(error.args)
    assert FAKE_API_KEY not in caplog.text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [429, 500])
def test_server_errors_become_provider_errors_with_their_status(
    kind, status, make_provider, fake_provider_server
):
    provider = make_provider(kind=kind)
    fake_provider_server.fail_next("/", status=status)

    with pytest.raises(ProviderError) as raised:
        clients.complete(provider, prompt="hi")

    assert raised.value.status == status


@pytest.mark.parametrize("kind", KINDS)
def test_retries_from_settings_recover_from_one_rate_limit(
    kind, make_provider, fake_provider_server, settings
):
    settings.PROVIDER_MAX_RETRIES = 1
    provider = make_provider(kind=kind)
    fake_provider_server.fail_next("/", status=429)

    assert clients.list_models(provider)
    assert len(fake_provider_server.requests) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_json_becomes_a_provider_error(kind, make_provider, fake_provider_server):
    provider = make_provider(kind=kind)
    fake_provider_server.fail_next("/", raw=b'{"choices": [ this is not json')

    with pytest.raises(ProviderError) as raised:
        clients.structured_completion(provider, instructions="x", payload="y", json_schema=SCHEMA)

    assert raised.value.kind == kind


@pytest.mark.parametrize("kind", KINDS)
def test_a_slow_answer_times_out_as_a_provider_error(
    kind, make_provider, fake_provider_server, settings
):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.3
    provider = make_provider(kind=kind)
    fake_provider_server.fail_next("/", delay=1.5)

    with pytest.raises(ProviderError) as raised:
        clients.list_models(provider)

    assert "timed out" in str(raised.value)


def test_structured_completion_rejects_an_answer_that_is_not_an_object(
    make_provider, fake_provider_server
):
    provider = make_provider(kind="openai")
    fake_provider_server.text_answers.append("[1, 2]")

    with pytest.raises(ProviderError, match="not an object"):
        clients.structured_completion(provider, instructions="x", payload="y", json_schema=SCHEMA)


def test_no_model_and_no_default_model_is_a_clear_error(make_provider):
    provider = make_provider(kind="openai", default_model="")

    with pytest.raises(ProviderError, match="no default model"):
        clients.complete(provider, prompt="hi")


def test_a_provider_without_a_key_is_a_clear_error(make_provider, fake_provider_server):
    provider = make_provider(kind="anthropic", api_key="")

    with pytest.raises(ProviderError, match="no API key is set"):
        clients.list_models(provider)
    assert fake_provider_server.requests == []


def test_an_openai_compatible_server_without_a_key_is_still_reached(
    make_provider, fake_provider_server
):
    provider = make_provider(kind="openai_compatible", api_key="")

    assert clients.list_models(provider) == fake_provider_server.models["openai"]


def test_an_unreachable_server_is_a_provider_error(make_provider):
    provider = make_provider(kind="openai", base_url="http://127.0.0.1:9/v1")

    with pytest.raises(ProviderError, match="could not connect"):
        clients.list_models(provider)


def test_a_replaced_key_is_used_from_the_next_call(make_provider, fake_provider_server):
    from providers.services import provider_set_key

    provider = make_provider(kind="openai")
    clients.list_models(provider)
    provider_set_key(provider=provider, api_key="sk-brand-new-key-9999")

    clients.list_models(provider)

    assert (
        fake_provider_server.requests[-1].headers["Authorization"] == "Bearer sk-brand-new-key-9999"
    )


def test_empty_instructions_are_not_sent_as_an_empty_system_prompt(
    make_provider, fake_provider_server
):
    provider = make_provider(kind="anthropic")

    clients.structured_completion(provider, instructions="", payload="hi", json_schema=SCHEMA)

    assert "system" not in fake_provider_server.requests[-1].json
