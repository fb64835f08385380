"""In Chromium, with the strict Content Security Policy on: every page renders with no CSP
violation, no failed request and no error in the console, and every chart on it is drawn
(charts.js marks a drawn canvas data-rendered="true")."""

import re

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import Page, expect

from tests.browser import log_in, screenshot
from tests.factories import UserFactory
from tests.inference.analytics_rows import fill_rows, make_group
from tests.registry.factories import RegisteredModelFactory, SklearnVersionFactory
from tests.training.factories import FineTuneJobFactory, JobEventFactory
from training.models import JobStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Init scripts run outside the page's CSP: they record every violation the page reports.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Console:
    """What a user's developer console would show: errors, failed requests, 4xx/5xx."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.context.add_init_script(RECORD_VIOLATIONS)
        page.on(
            "console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}")
        )
        page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        page.on(
            "response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}")
        )
        page.on("requestfailed", self._failed)

    def _failed(self, request) -> None:
        # A poll cut short by leaving the page is not a failure a user sees.
        if request.failure == "net::ERR_ABORTED" and request.resource_type in ("xhr", "fetch"):
            return
        self.problems.append(f"failed {request.url}: {request.failure}")

    def visit(self, path: str) -> int:
        """Open a page, wait for its charts, and return how many it drew."""
        self.page.goto(path)
        self.page.wait_for_load_state("networkidle")
        return self.settled()

    def settled(self) -> int:
        charts = self.page.locator("canvas[data-chart-kind]")
        expect(
            self.page.locator('canvas[data-chart-kind]:not([data-rendered="true"])')
        ).to_have_count(0)
        assert self.page.evaluate("window.__csp") == [], self.page.url
        assert self.problems == [], self.page.url
        return charts.count()


def compare_url(slug: str) -> str:
    # The comparison tab moves from /inference/groups/<slug>/ to /groups/<slug>/ (issue 12 item 8).
    for name in ("groups:group_compare", "inference:group_compare"):
        try:
            return reverse(name, args=[slug])
        except NoReverseMatch:
            continue
    raise AssertionError("no comparison URL")


@pytest.fixture
def console(browser_page):
    return Console(browser_page)


@pytest.fixture
def staff(transactional_db):
    return UserFactory(username="ops", is_staff=True, is_superuser=True)


def test_the_login_page_loads_every_resource_under_the_policy(browser_page, console):
    response = browser_page.goto("/login/")
    browser_page.wait_for_load_state("networkidle")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(browser_page.locator("h1")).to_have_text("Log in to Model Hub")
    console.settled()
    # The tab's icon is served (it was the login page's missing resource).
    icon = browser_page.locator("link[rel=icon]").get_attribute("href")
    assert browser_page.request.get(icon).ok


def test_product_pages_render_their_charts_under_the_policy(browser_page, console, staff):
    page = browser_page
    model = RegisteredModelFactory(name="Credit Scoring")
    version = SklearnVersionFactory(model=model, version="1.2")
    group, versions = make_group()
    fill_rows(group, versions, n=200, seed=3)
    job = FineTuneJobFactory(status=JobStatus.RUNNING, progress=40, stage="Stage 2/5")
    JobEventFactory.create_batch(3, job=job)
    log_in(page, staff.username, "correct-horse-battery")

    assert console.visit("/") == 0
    assert page.evaluate("typeof Chart") == "undefined"  # no charts, no Chart.js
    assert page.evaluate("typeof htmx") == "object"
    assert console.visit("/models/") == 0
    assert console.visit(version.get_absolute_url()) == 0
    assert console.visit(f"{model.get_absolute_url()}?tab=analytics") == 5
    screenshot(page, "csp-analytics")
    assert console.visit(group.get_absolute_url()) == 0
    assert console.visit(compare_url(group.slug)) >= 1
    screenshot(page, "csp-compare")
    assert console.visit(job.get_absolute_url()) == 1
    expect(page.locator("#job-live progress")).to_have_attribute("value", "40")


def test_charts_brought_by_htmx_load_chart_js_on_demand(browser_page, console, staff):
    page = browser_page
    model = RegisteredModelFactory(name="Credit Scoring")
    SklearnVersionFactory(model=model, version="1.2")
    log_in(page, staff.username, "correct-horse-battery")

    assert console.visit(model.get_absolute_url()) == 0
    page.click("nav.tabs >> text=Analytics")
    expect(page).to_have_url(re.compile(r"tab=analytics"))
    expect(page.locator('canvas[data-chart-kind="roc"]')).to_have_attribute("data-rendered", "true")
    assert console.settled() == 5


def test_a_polled_chart_is_updated_in_place(browser_page, console, staff):
    page = browser_page
    job = FineTuneJobFactory(status=JobStatus.RUNNING, progress=10)
    JobEventFactory.create_batch(2, job=job)
    log_in(page, staff.username, "correct-horse-battery")
    assert console.visit(job.get_absolute_url()) == 1
    page.evaluate("document.querySelector('canvas[data-chart-kind]').dataset.marker = 'first'")

    JobEventFactory(job=job)
    job.progress = 60
    job.save(update_fields=["progress"])

    expect(page.locator("#job-live progress")).to_have_attribute("value", "60", timeout=8000)
    canvas = page.locator("canvas[data-chart-kind]")
    expect(canvas).to_have_attribute("data-marker", "first")  # the same canvas, redrawn
    assert (
        page.evaluate(
            "Chart.getChart(document.querySelector('canvas[data-chart-kind]')).data.labels.length"
        )
        == 3
    )
    console.settled()


def test_the_admin_and_the_api_docs_work_under_the_policy(browser_page, console, staff):
    page = browser_page
    group, _ = make_group()
    log_in(page, staff.username, "correct-horse-battery")

    console.visit("/admin/")
    expect(page.locator("#site-name")).to_have_text("Model Hub administration")
    console.visit(f"/admin/groups/modelgroup/{group.pk}/change/")
    expect(page.locator("#content h1")).to_be_visible()
    console.visit("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Model Hub API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    console.settled()
    screenshot(page, "csp-api-docs")
