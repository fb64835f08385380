"""A key goes only where it was entered for, never into an error report, and only Admins
write providers."""

import time

import pytest
from django.test import override_settings
from django.urls import reverse
from django.views.debug import ExceptionReporter

from core import roles
from providers import clients
from providers.clients import ProviderError
from providers.models import Provider
from providers.services import provider_save, provider_set_key
from tests.factories import role_user
from tests.fakes.provider_server import FAKE_API_KEY


@pytest.fixture(autouse=True)
def _no_retries(settings):
    settings.PROVIDER_MAX_RETRIES = 0


def _admin_form(provider, **overrides):
    data = {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "organization": provider.organization,
        "default_model": provider.default_model,
        "is_active": "on",
        "api_key": "",
    }
    return {**data, **overrides}


def _sent_the_key(server) -> bool:
    return any(FAKE_API_KEY in str(dict(r.headers)) for r in server.requests)


@pytest.mark.parametrize(
    "change", [{"base_url": "NEW/v2"}, {"organization": "org-other"}, {"kind": "openai_compatible"}]
)
def test_changing_where_the_key_goes_without_a_new_key_clears_it(
    make_provider, fake_provider_server, change
):
    provider = make_provider(kind="openai")
    for name, value in change.items():
        setattr(provider, name, value.replace("NEW", fake_provider_server.url))

    saved = provider_save(provider=provider)

    provider.refresh_from_db()
    assert not provider.has_key and provider.api_key_last4 == ""
    assert saved.key_cleared_by == list(change)


def test_the_old_key_never_reaches_the_new_host_after_a_base_url_change(
    make_provider, fake_provider_server
):
    provider = make_provider(kind="openai_compatible")
    clients.list_models(provider)  # the client for the old URL is cached with the old key
    assert _sent_the_key(fake_provider_server)
    fake_provider_server.reset()
    # The new host is the fake server under another path (and another spelling of loopback).
    provider.base_url = fake_provider_server.url.replace("127.0.0.1", "localhost") + "/v1"

    provider_save(provider=provider)
    provider.refresh_from_db()
    clients.list_models(provider)

    assert fake_provider_server.requests  # the new host was called...
    assert not _sent_the_key(fake_provider_server)  # ...without the old key


def test_a_new_key_typed_with_the_new_url_is_kept(make_provider, fake_provider_server):
    provider = make_provider(kind="openai")
    provider.base_url = fake_provider_server.url + "/v2"

    saved = provider_save(provider=provider, api_key="sk-brand-new-key-9876")

    provider.refresh_from_db()
    assert provider.api_key_last4 == "9876" and saved.key_cleared_by == []


def test_the_admin_says_the_key_was_cleared(staff_client, make_provider, fake_provider_server):
    provider = make_provider(kind="openai")

    response = staff_client.post(
        reverse("admin:providers_provider_change", args=[provider.pk]),
        _admin_form(provider, base_url=fake_provider_server.url + "/v2"),
        follow=True,
    )

    provider.refresh_from_db()
    assert not provider.has_key
    assert (
        "stored API key" in response.content.decode() and "was cleared" in response.content.decode()
    )


def test_editing_other_fields_keeps_the_key(make_provider):
    provider = make_provider(kind="openai")
    provider.default_model = "gpt-4.1-mini"

    saved = provider_save(provider=provider)

    provider.refresh_from_db()
    assert provider.has_key and saved.key_cleared_by == []


def test_updated_at_moves_on_every_key_and_state_change(make_provider, fake_provider_server):
    provider = make_provider(kind="openai")
    stamps = [Provider.objects.get(pk=provider.pk).updated_at]

    def moved() -> bool:
        stamps.append(Provider.objects.get(pk=provider.pk).updated_at)
        return stamps[-1] > stamps[-2]

    time.sleep(0.002)
    provider_set_key(provider=provider, api_key="sk-another-key-1111")
    assert moved()
    time.sleep(0.002)
    provider.is_active = False
    provider_save(provider=provider)
    assert moved()
    time.sleep(0.002)
    from providers.services import provider_check_health

    provider_check_health(provider=Provider.objects.get(pk=provider.pk))
    assert moved()
    time.sleep(0.002)
    provider = Provider.objects.get(pk=provider.pk)
    provider.base_url = fake_provider_server.url + "/v2"
    provider_save(provider=provider)
    assert moved()


def _report_text(error: BaseException) -> str:
    """What Django's error report (the 500 e-mail, the debug page) would show."""
    reporter = ExceptionReporter(None, type(error), error, error.__traceback__)
    frames = reporter.get_traceback_data()["frames"]
    return reporter.get_traceback_text() + repr([(f["function"], f["vars"]) for f in frames])


@override_settings(DEBUG=False)
def test_a_failed_call_carries_no_key_in_its_message_chain_or_error_report(
    make_provider, fake_provider_server
):
    provider = make_provider(kind="openai")
    fake_provider_server.fail_next(
        "/", status=401, body={"error": {"message": f"Incorrect API key provided: {FAKE_API_KEY}"}}
    )

    with pytest.raises(ProviderError) as caught:
        clients.list_models(provider)

    error = caught.value
    assert FAKE_API_KEY not in str(error) and FAKE_API_KEY not in repr(error)
    assert error.__cause__ is None and error.__context__ is None
    report = _report_text(error)
    assert "'api_key'" in report and "*****" in report  # the key's variable is reported...
    assert FAKE_API_KEY not in report  # ...with its value hidden


@override_settings(DEBUG=False)
def test_a_client_that_cannot_be_built_carries_no_key(make_provider):
    provider = make_provider(kind="openai")
    Provider.objects.filter(pk=provider.pk).update(kind="mystery")
    provider.refresh_from_db()

    with pytest.raises(ProviderError) as caught:
        clients.list_models(provider)

    error = caught.value
    assert "unknown provider kind" in str(error)
    assert FAKE_API_KEY not in str(error) and FAKE_API_KEY not in repr(error)
    assert FAKE_API_KEY not in _report_text(error)


def test_only_admins_write_providers_in_the_admin(client, make_provider, fake_provider_server):
    provider = make_provider(kind="openai")
    operator = role_user(roles.OPERATOR, is_staff=True)
    admin = role_user(roles.ADMIN, is_staff=True)
    change_url = reverse("admin:providers_provider_change", args=[provider.pk])
    test_url = reverse("admin:providers_provider_test_connection", args=[provider.pk])

    client.force_login(operator)
    viewed = client.get(change_url)
    refused = client.post(change_url, _admin_form(provider, default_model="x"))
    refused_test = client.post(test_url)
    add_refused = client.get(reverse("admin:providers_provider_add"))
    client.force_login(admin)
    allowed = client.post(change_url, _admin_form(provider, default_model="gpt-x"))

    assert viewed.status_code == 200 and test_url not in viewed.content.decode()
    assert refused.status_code == 403 and refused_test.status_code == 403
    assert add_refused.status_code == 403
    assert allowed.status_code == 302
    provider.refresh_from_db()
    assert provider.default_model == "gpt-x"


def test_every_role_reads_the_providers_page_and_api_without_key_material(client, make_provider):
    make_provider(kind="openai", name="Shared OpenAI")
    for role in roles.ROLES:
        client.force_login(role_user(role))
        page = client.get(reverse("providers:provider_list"))
        api = client.get("/api/v1/providers/")
        assert page.status_code == 200 and api.status_code == 200, role
        assert "Shared OpenAI" in page.content.decode()
        assert FAKE_API_KEY not in page.content.decode() + api.content.decode()
