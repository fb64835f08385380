"""In Chromium: the Analytics tab of a regression and of a multiclass version draws the
task's charts (every canvas rendered), with the task's KPI cards."""

import pytest
from playwright.sync_api import expect

from registry.models import Task
from tests.browser import log_in, screenshot
from tests.registry.task_versions import task_version
from tests.registry.test_import_browser import operator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXPECTED = {
    Task.REGRESSION: (
        [
            "chart-predicted-actual",
            "chart-residuals",
            "chart-residual-histogram",
            "chart-error-decile",
        ],
        "RMSE",
    ),
    Task.MULTICLASS: (["chart-confusion", "chart-per-class", "chart-top-k"], "Macro F1"),
}


@pytest.mark.parametrize("task", [Task.REGRESSION, Task.MULTICLASS])
def test_the_analytics_tab_draws_the_charts_of_the_task_in_the_browser(browser_page, task):
    page = browser_page
    user = operator()
    version = task_version(task)
    charts, kpi = EXPECTED[task]
    log_in(page, user.username, "correct-horse-battery")

    page.goto(f"/models/{version.model.slug}/?tab=analytics")

    for chart in charts:
        expect(page.locator(f'canvas[data-chart="{chart}"]')).to_have_attribute(
            "data-rendered", "true"
        )
    canvases = page.locator("canvas[data-chart-kind]")
    assert canvases.count() >= len(charts)
    for i in range(canvases.count()):
        expect(canvases.nth(i)).to_have_attribute("data-rendered", "true")
    expect(page.locator(".kpis")).to_contain_text(kpi)
    expect(page.locator('canvas[data-chart="chart-roc"]')).to_have_count(0)
    screenshot(page, f"registry-analytics-{task.replace('_', '-')}")
