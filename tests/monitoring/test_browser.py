"""In Chromium: the Monitoring tab renders the drift heatmap and the open alert (CSP on)."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from core import roles
from monitoring.models import AlertRule
from monitoring.snapshots import group_run
from tests.browser import log_in, screenshot
from tests.factories import role_user
from tests.inference.serving_factories import serving_group
from tests.monitoring.helpers import csv_upload, send_traffic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_monitoring_tab_renders_heatmap_and_alert_in_chromium(browser_page):
    setup = serving_group()
    operator = role_user(roles.OPERATOR)
    client = Client()
    client.force_login(operator)
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    client.generic(
        "PUT",
        f"/api/v1/models/{setup.champion.model.slug}/versions/{setup.champion.version}/reference",
        data=encode_multipart(BOUNDARY, {"file": csv_upload(800)}),
        content_type=MULTIPART_CONTENT,
    )
    send_traffic(client, setup, count=150)
    AlertRule.objects.create(
        group=setup.group, name="Income drift", metric="drift.feature:income", threshold=1
    )
    group_run(group=setup.group)

    page = browser_page
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    log_in(page, operator.username, "correct-horse-battery")
    page.goto(f"/groups/{setup.group.slug}/monitoring/")
    heatmap = page.locator(f"table.heatmap[data-heatmap='{setup.champion.pk}']")
    expect(heatmap).to_be_visible()
    expect(heatmap.locator("tr", has_text="income").locator("td.drift-yes")).to_have_count(1)
    expect(page.locator("#open-alerts")).to_contain_text("Income drift")
    expect(page.get_by_role("button", name="Acknowledge")).to_be_visible()
    expect(page.locator("canvas[data-chart-kind='timeseries']").first).to_be_attached()
    screenshot(page, "monitoring-tab")
    assert not [e for e in errors if "Content Security Policy" in e], errors
