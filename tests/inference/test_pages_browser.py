"""In Chromium: the Comparative View with real rows, a window change, a promotion, and one
prediction's SHAP waterfall. Screenshots land in test-artifacts/screenshots/."""

import re

import pytest
from playwright.sync_api import expect

from core import roles
from tests.browser import log_in, screenshot
from tests.factories import role_user
from tests.inference.analytics_rows import fill_rows, make_group

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compare_promote_and_explain_in_the_browser(browser_page, live_server):
    page = browser_page
    user = role_user(roles.OPERATOR)  # promotes in its own team's group
    group, (champion, challenger) = make_group()
    fill_rows(group, [champion, challenger], n=400, seed=8)
    log_in(page, user.username, "correct-horse-battery")

    page.goto(f"/groups/{group.slug}/compare/")
    for version in (champion, challenger):
        card = page.locator(f'[data-member="{version.pk}"]')
        expect(card.locator('[data-metric="auc"] .kpi-value')).to_have_text(
            re.compile(r"^0\.\d{3}$")
        )
        expect(card.locator('[data-metric="accuracy"] .kpi-value')).to_have_text(
            re.compile(r"^\d+\.\d%$")
        )
    expect(
        page.locator(f'[data-member="{challenger.pk}"] [data-metric="auc"] .kpi-detail')
    ).to_contain_text("95% CI")
    expect(page.locator('canvas[data-chart="series-requests"]')).to_have_attribute(
        "data-rendered", "true"
    )
    screenshot(page, "inference-compare")

    page.click('a[data-window-link="24h"]')
    expect(page.locator("#compare-panel")).to_have_attribute("data-window", "24h")
    expect(page).to_have_url(re.compile(r"window=24h"))
    expect(page.locator('a[data-window-link="24h"]')).to_have_attribute("aria-current", "true")

    promote = page.locator(f'[data-promote="{challenger.pk}"]')
    promote.locator("summary").click()
    expect(promote).to_contain_text("champion at 100%")
    expect(promote).to_contain_text("champion at 90% → challenger at 0%")
    screenshot(page, "inference-compare-confirm")
    promote.locator('input[name="reason"]').fill("higher AUC on live traffic")
    promote.locator('button[type="submit"]').click()

    expect(page.locator(f'[data-member="{challenger.pk}"]')).to_have_attribute(
        "data-role", "champion"
    )
    expect(page.locator(f'[data-member="{champion.pk}"]')).to_have_attribute(
        "data-role", "challenger"
    )
    expect(page.locator("#latest-change")).to_contain_text("higher AUC on live traffic")
    expect(page).to_have_url(re.compile(r"/compare/\?window=24h"))
    screenshot(page, "inference-compare-promoted")

    page.goto(f"/groups/{group.slug}/inferences/?has_outcome=yes")
    first = page.locator("#results tbody tr a").first
    expect(first).to_be_visible()
    screenshot(page, "inference-browser")
    first.click()
    expect(page.locator('canvas[data-chart="waterfall"]')).to_have_attribute(
        "data-rendered", "true"
    )
    expect(page.locator('[data-field="score"]')).to_have_text(re.compile(r"^0\.\d+|1\.0+$"))
    screenshot(page, "inference-detail")
