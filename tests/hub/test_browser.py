import pytest

from tests.browser import log_in, screenshot
from tests.factories import UserFactory


@pytest.mark.browser
def test_a_user_logs_in_through_chromium_and_sees_the_dashboard(browser_page, transactional_db):
    user = UserFactory(username="ada")

    log_in(browser_page, user.username, "correct-horse-battery")

    assert browser_page.locator("h1").inner_text() == "Dashboard"
    assert browser_page.locator(".kpi").count() == 4
    assert browser_page.get_by_role("link", name="Groups").is_visible()
    # Chart.js loads only on pages with charts (uses_charts); the dashboard has none.
    assert browser_page.evaluate("typeof Chart") == "undefined"
    assert browser_page.evaluate("typeof htmx") == "object"
    screenshot(browser_page, "dashboard")


@pytest.mark.browser
def test_a_wrong_password_keeps_chromium_on_the_login_page(browser_page, transactional_db):
    UserFactory(username="bob")

    log_in(browser_page, "bob", "wrong")

    assert "/login/" in browser_page.url
    assert browser_page.get_by_role("alert").is_visible()
