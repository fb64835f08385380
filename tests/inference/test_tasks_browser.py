"""In Chromium: the Comparative View of the demo's regression and multiclass groups draws
every one of its charts, and the model page's live section draws the task's charts."""

import re

import pytest
from playwright.sync_api import expect

from core import roles
from groups.models import ModelGroup, Role
from inference import demo_tasks
from tests.browser import log_in, screenshot
from tests.factories import role_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _viewer():
    """A Viewer of the default team (a transactional test starts without the roles the data
    migration made, so they are synced first)."""
    from django.contrib.auth.models import Group, Permission

    roles.roles_sync(Group, Permission)
    return role_user(roles.VIEWER)


def _all_charts_rendered(page) -> int:
    canvases = page.locator("canvas[data-chart-kind]")
    expect(canvases.first).to_be_visible()
    count = canvases.count()
    for index in range(count):
        expect(canvases.nth(index)).to_have_attribute("data-rendered", "true")
    return count


@pytest.mark.parametrize(
    ("demo", "headline", "kinds"),
    [
        (demo_tasks.PRICING, "mae", {"timeseries"}),
        (demo_tasks.NEXT_BEST_ACTION, "accuracy", {"timeseries"}),
    ],
    ids=["regression", "multiclass"],
)
def test_compare_page_of_each_task_renders_its_charts(browser_page, demo, headline, kinds):
    page = browser_page
    user = _viewer()
    demo_tasks.demo_task_traffic_seed(demo, requests=150, actor=user)
    group = ModelGroup.objects.get(name=demo.name)
    log_in(page, user.username, "correct-horse-battery")

    page.goto(f"/groups/{group.slug}/compare/")
    champion = group.memberships.get(role=Role.CHAMPION)
    kpi = page.locator(f'[data-member="{champion.model_version_id}"] [data-metric="{headline}"]')
    expect(kpi.locator(".kpi-value")).to_have_text(re.compile(r"^\d+\.\d+%?$"))
    assert _all_charts_rendered(page) >= 3
    drawn = {
        page.locator("canvas[data-chart-kind]").nth(i).get_attribute("data-chart-kind")
        for i in range(page.locator("canvas[data-chart-kind]").count())
    }
    assert kinds <= drawn
    screenshot(page, f"inference-compare-{group.slug}")


@pytest.mark.parametrize(
    ("demo", "chart_ids"),
    [
        (
            demo_tasks.PRICING,
            ("predicted-actual", "residuals", "residual-histogram", "error-decile"),
        ),
        (demo_tasks.NEXT_BEST_ACTION, ("confusion", "per-class", "top-k")),
    ],
    ids=["regression", "multiclass"],
)
def test_version_live_section_draws_the_tasks_charts(browser_page, demo, chart_ids):
    page = browser_page
    user = _viewer()
    demo_tasks.demo_task_traffic_seed(demo, requests=150, actor=user)
    group = ModelGroup.objects.get(name=demo.name)
    version = group.memberships.get(role=Role.CHAMPION).model_version
    log_in(page, user.username, "correct-horse-battery")

    # The model page's analytics tab (its production version) loads the live section.
    page.goto(f"/models/{version.model.slug}/?tab=analytics")
    for chart_id in chart_ids:
        canvas = page.locator(f'canvas[data-chart="live-{group.slug}-{chart_id}"]')
        expect(canvas).to_have_attribute("data-rendered", "true")
    screenshot(page, f"inference-live-{group.slug}")
