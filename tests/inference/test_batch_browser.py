"""In Chromium, under the strict Content Security Policy: a batch job's progress page polls
until the job has succeeded and then offers the result, with nothing in the console."""

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from core import roles
from inference.batch import services
from tests.browser import log_in, screenshot
from tests.factories import role_user
from tests.hub.test_csp_browser import Console
from tests.inference.serving_factories import credit_rows, serving_group

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_progress_page_reaches_succeeded_and_links_the_result(browser_page):
    from django.contrib.auth.models import Group, Permission

    roles.roles_sync(Group, Permission)
    operator = role_user(roles.OPERATOR)
    setup = serving_group(name="Batch Browser Credit")
    frame = pd.DataFrame(credit_rows(40, seed=2))
    upload = SimpleUploadedFile("portfolio.csv", frame.to_csv(index=False).encode())
    job = services.batch_create(
        upload=upload,
        options=services.BatchOptions(),
        group=setup.group,
        user=operator,
        queue=False,
    )
    page = browser_page
    console = Console(page)
    log_in(page, operator.username, "correct-horse-battery")

    page.goto(f"/batches/{job.pk}/")
    expect(page.locator("#batch-live")).to_contain_text("Queued")
    services.batch_run_inline(job=job)  # the worker's part, while the page polls

    live = page.locator("#batch-live")
    expect(live).to_contain_text("Succeeded", timeout=20_000)
    expect(live.locator("progress")).to_have_attribute("value", "100")
    link = page.get_by_role("link", name="Download the result (CSV)")
    expect(link).to_have_attribute("href", f"/batches/{job.pk}/result/")
    screenshot(page, "batch-succeeded")
    assert page.request.get(link.get_attribute("href")).ok
    console.settled()
