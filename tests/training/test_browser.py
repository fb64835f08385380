"""The issue's "must show", in Chromium with a real worker: a gradient-boosting job from the
Live Credit Scoring decision log moves its progress bar and loss chart, ends with a new
Credit Scoring version, and one click adds it to the group as a challenger."""

import time

import pytest

from core import roles
from groups.models import Membership, ModelGroup
from inference.tables import inference_table_drop, table_exists
from tests.browser import log_in, screenshot
from tests.factories import role_user
from tests.training.factories import credit_group, log_decisions
from training.models import FineTuneJob, JobStatus

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def live_group(transactional_db):
    group, champion = credit_group()
    log_decisions(group, champion, rows=2000)
    yield group, champion
    for table in ModelGroup.objects.values_list("table_name", flat=True):
        if table and table_exists(table):
            inference_table_drop(table)


def test_a_job_from_the_decision_log_moves_live_and_joins_the_group_in_one_click(
    browser_page, celery_worker, live_group
):
    group, champion = live_group
    # Starting a job and joining a group are an Operator's acts on their team's model and group.
    role_user(roles.OPERATOR, username="ada")
    page = browser_page
    log_in(page, "ada", "correct-horse-battery")

    page.goto("/training/new/")
    assert page.get_by_text(
        "Anthropic and Gemini offer no fine-tuning through their public APIs"
    ).is_visible()
    assert page.locator("select[name=base]").input_value() == "preset:gradient_boosting"
    page.select_option("select[name=group]", label="Live Credit Scoring")
    page.fill("input[name=hp_n_estimators]", "400")
    page.fill("input[name=hp_max_depth]", "4")
    screenshot(page, "training-new-job")
    assert page.locator("input[name=hp_n_estimators]").input_value() == "400"
    page.get_by_role("button", name="Start the job").click()
    page.wait_for_load_state("networkidle")
    assert "/training/jobs/" in page.url, page.locator("main").inner_text()

    # Watch the page (refreshed by htmx) until the job ends, noting the progress bar.
    seen: list[int] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        seen.append(int(page.get_attribute("#job-live [role=progressbar]", "aria-valuenow")))
        if page.locator("#job-live .kpi-value", has_text="Succeeded").count():
            break
        page.wait_for_timeout(300)
    job = FineTuneJob.objects.get()
    assert job.status == JobStatus.SUCCEEDED, job.error + celery_worker.log()
    assert any(0 < value < 100 for value in seen), seen
    assert seen == sorted(seen) and seen[-1] == 100
    assert (
        page.locator(f"canvas[data-chart='loss-chart-{job.pk}']").get_attribute("data-rendered")
        == "true"
    )
    assert page.get_by_role("link", name=str(job.result_version)).is_visible()
    screenshot(page, "training-job-succeeded")

    page.get_by_role("button", name="Add to group as challenger").click()
    page.wait_for_url(f"**{group.get_absolute_url()}")

    membership = Membership.objects.get(group=group, model_version=job.result_version)
    assert (membership.role, membership.weight) == ("challenger", 10)
    assert Membership.objects.get(group=group, model_version=champion).weight == 90
    assert page.get_by_text("joined Live Credit Scoring as a challenger with 10%").is_visible()
