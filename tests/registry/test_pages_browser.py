"""In Chromium: the model hub, the model page's Analytics tab with its charts, the version
picker comparing two versions, and a status change. Screenshots in test-artifacts/screenshots/."""

import re

import pytest
from playwright.sync_api import expect

from registry.demo import demo_models_seed
from tests.browser import log_in, screenshot
from tests.registry.test_import_browser import operator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CHARTS = ("chart-roc", "chart-pr", "chart-confusion", "chart-calibration", "chart-importance")


def test_analytics_tab_renders_charts_and_compares_versions_in_the_browser(browser_page):
    page = browser_page
    user = operator()
    versions = demo_models_seed(owner=user)
    log_in(page, user.username, "correct-horse-battery")

    page.goto("/models/")
    page.fill("#q", "credit")
    expect(page.locator("#results")).to_contain_text("Credit Scoring")
    screenshot(page, "registry-model-list")
    page.click("#results >> text=Credit Scoring")
    expect(page.locator("#tab-panel")).to_contain_text("1.3")

    page.click("nav.tabs >> text=Analytics")
    expect(page).to_have_url(re.compile(r"tab=analytics"))
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("Analytics")
    for chart in CHARTS:
        expect(page.locator(f'canvas[data-chart="{chart}"]')).to_have_attribute(
            "data-rendered", "true"
        )
    auc = versions["1.2"].metadata["metrics"]["auc_roc"]
    expect(page.locator(".kpis")).to_contain_text(f"{auc:.4f}")
    screenshot(page, "registry-analytics")

    page.select_option("#analytics-v", "1.3")
    expect(page).to_have_url(re.compile(r"v=1\.3"))
    # Wait for the swapped panel before using its picker (the old one is being replaced).
    expect(page.locator("#tab-panel")).to_contain_text("Validation metrics of v1.3")
    page.select_option("#analytics-compare", "1.2")
    expect(page.locator("#tab-panel")).to_contain_text("v1.3 and v1.2 side by side")
    expect(page.locator('canvas[data-chart="chart-roc"]')).to_have_attribute(
        "data-rendered", "true"
    )
    page.locator("summary", has_text="Features and training-data reference").click()
    expect(page.locator("details[open]")).to_contain_text("debt_ratio")
    screenshot(page, "registry-analytics-compare")

    page.goto(versions["1.3"].get_absolute_url())
    page.click("text=Move to production")
    expect(page.locator(".messages")).to_contain_text("is now production")
    screenshot(page, "registry-version")
