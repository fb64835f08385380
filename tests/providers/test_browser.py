import pytest

from providers.models import Provider
from tests.browser import log_in, screenshot
from tests.factories import UserFactory

KEY = "sk-browser-typed-secret-000abcd"


@pytest.mark.browser
def test_ops_staff_connect_a_provider_in_the_admin_and_users_see_it_healthy(
    browser_page, transactional_db, fake_provider_server, settings
):
    settings.PROVIDER_MAX_RETRIES = 0
    staff = UserFactory(username="ops", is_staff=True, is_superuser=True)
    page = browser_page
    log_in(page, staff.username, "correct-horse-battery")

    page.goto("/admin/providers/provider/add/")
    page.fill("#id_name", "Prod OpenAI")
    page.select_option("#id_kind", "openai")
    page.fill("#id_base_url", f"{fake_provider_server.url}/v1")
    page.fill("#id_default_model", "gpt-4o-mini")
    page.fill("#id_api_key", KEY)
    page.click("input[name=_continue]")
    page.wait_for_load_state("networkidle")

    assert "key set (…abcd)" in page.content().lower()
    assert KEY not in page.content()
    assert page.input_value("#id_api_key") == ""

    page.get_by_role("button", name="Test connection").click()
    page.wait_for_load_state("networkidle")
    assert "connection ok" in page.locator(".messagelist").inner_text()
    screenshot(page, "providers-admin-change")
    provider = Provider.objects.get(name="Prod OpenAI")
    assert provider.health_ok is True and provider.health_latency_ms is not None

    page.goto("/providers/")
    row = page.locator("tr", has_text="Prod OpenAI")
    assert "healthy" in row.inner_text()
    assert "Anthropic offers no fine-tuning through its public API" in page.content()
    assert KEY not in page.content()
    screenshot(page, "providers-page")
