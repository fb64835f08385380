"""The manifest editor in Chromium, under the strict Content Security Policy: CodeMirror 6
(bundled from npm by `make setup`) over the form's textarea, the manifest schema checked in
the browser with each problem on its JSON path, and a valid edit saved as a new version,
with no CSP violation and no error in the console."""

import pytest
from playwright.sync_api import expect

from core import roles
from recipes.baselines import recipes_seed
from recipes.models import RecipeVersion
from tests.browser import log_in, screenshot
from tests.factories import role_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Init scripts run outside the page's CSP: they record every violation the page reports.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def console(browser_page):
    problems: list[str] = []
    browser_page.context.add_init_script(RECORD_VIOLATIONS)
    browser_page.on(
        "console",
        lambda m: (
            (m.type == "error" or "Content Security Policy" in m.text)
            and problems.append(f"console: {m.text}")
        ),
    )
    browser_page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    return problems


def _replace_word(page, word: str, typed: str) -> None:
    """Find a word with the editor's search (Ctrl+F, Enter selects it, Escape closes the
    panel) and type over the selection."""
    page.locator(".cm-content").click()
    page.keyboard.press("Control+f")
    search = page.locator(".cm-search input[name=search]")
    search.press_sequentially(word)
    search.press("Enter")
    page.keyboard.press("Escape")
    page.keyboard.type(typed)


def test_the_editor_checks_the_schema_as_you_type_and_saves_a_new_version(browser_page, console):
    recipes_seed()
    role_user(roles.OPERATOR, username="ada")
    page = browser_page
    log_in(page, "ada", "correct-horse-battery")

    page.goto("/library/recipes/pricing-baseline/")
    page.wait_for_load_state("networkidle")
    editor = page.locator(".cm-editor")
    expect(editor).to_be_visible()
    expect(page.locator("textarea[data-manifest-editor]")).to_be_hidden()
    # CodeMirror's theme is a <style> element allowed by the page's nonce.
    assert page.evaluate("document.querySelectorAll('style[nonce]').length") >= 1
    expect(page.locator("[data-manifest-status]")).to_have_text("Valid: it would be version 1.1.0.")

    _replace_word(page, "realtime", "sometimes")

    errors = page.locator("[data-manifest-errors] li")
    expect(errors.filter(has_text="/deployment/mode")).to_have_count(1)
    expect(errors.first).to_contain_text("realtime")
    expect(page.locator(".cm-lintRange-error")).to_have_count(1)
    expect(page.locator("[data-manifest-status]")).to_have_text("1 problem:")
    screenshot(page, "recipe-editor-schema-error")

    _replace_word(page, "sometimes", "batch")
    expect(errors).to_have_count(0)
    expect(page.locator("[data-manifest-status]")).to_have_text("Valid: it would be version 1.1.0.")
    page.fill("input[name=change_note]", "Scored in nightly batches")
    page.get_by_role("button", name="Save as a new draft version").click()
    page.wait_for_load_state("networkidle")

    expect(page.get_by_text("Version 1.1.0 saved as a draft.")).to_be_visible()
    created = RecipeVersion.objects.get(recipe__slug="pricing-baseline", version="1.1.0")
    assert created.effective["deployment"]["mode"] == "batch"
    assert created.change_note == "Scored in nightly batches"
    assert page.evaluate("window.__csp") == []
    assert console == []


def test_without_javascript_the_textarea_saves_and_lists_the_servers_errors(chromium, live_server):
    recipes_seed()
    role_user(roles.OPERATOR, username="ada")
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, "ada", "correct-horse-battery")
        page.goto("/library/recipes/pricing-baseline/")
        textarea = page.locator("textarea[data-manifest-editor]")
        expect(textarea).to_be_visible()
        textarea.fill(textarea.input_value().replace('"realtime"', '"sometimes"'))
        page.get_by_role("button", name="Save as a new draft version").click()

        errors = page.locator("[data-manifest-errors] li")
        expect(errors.filter(has_text="/deployment/mode")).to_have_count(1)
        assert not RecipeVersion.objects.filter(
            recipe__slug="pricing-baseline", version="1.1.0"
        ).exists()
    finally:
        context.close()
