"""The import page in Chromium: upload model.json -> preview -> confirm -> the model page."""

import json

import pytest

from registry.models import ModelVersion
from tests.browser import log_in, screenshot
from tests.factories import role_user
from tests.registry.test_import import renamed_document


def operator(**fields):
    """An Operator of the default team (a transactional test starts without the roles the
    data migration made, so they are synced first)."""
    from django.contrib.auth.models import Group, Permission

    from core import roles

    roles.roles_sync(Group, Permission)
    return role_user(roles.OPERATOR, **fields)


@pytest.mark.browser
def test_model_json_with_model_performance_is_previewed_as_metrics_and_saved_on_confirm(
    browser_page, transactional_db, tmp_path
):
    user = operator(username="ada")
    model_json = tmp_path / "model.json"
    model_json.write_text(json.dumps(renamed_document()))
    page = browser_page
    log_in(page, user.username, "correct-horse-battery")

    page.goto("/models/import/")
    page.set_input_files("#id_files", str(model_json))
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#import-preview")
    preview.wait_for()
    moves = page.locator("table.import-moves")
    assert moves.locator("tr", has_text="model_performance.AUC").inner_text().split("\t")[:2] == [
        "model_performance.AUC",
        "metrics.auc_roc",
    ]
    assert '"auc_roc": 0.91' in page.locator("pre.import-document").inner_text()
    assert ModelVersion.objects.count() == 0
    screenshot(page, "import-preview")

    page.get_by_role("button", name="Confirm and save 1 version").click()
    page.wait_for_url("**/models/churn-predictor/")

    assert page.locator("h1").inner_text() == "Churn Predictor"
    row = page.locator("#tab-panel tbody tr").first
    assert row.locator("td").first.inner_text() == "2.1"
    assert "0.910" in row.inner_text()
    assert ModelVersion.objects.get().metadata["metrics"]["auc_roc"] == 0.91
    screenshot(page, "import-saved-model-page")


@pytest.mark.browser
def test_pasted_garbage_shows_a_clear_error_in_place(browser_page, transactional_db):
    user = operator(username="bob")
    page = browser_page
    log_in(page, user.username, "correct-horse-battery")

    page.goto("/models/import/")
    page.fill("#id_document", "42")
    page.get_by_role("button", name="Preview").click()

    alert = page.locator("#import-result [role=alert]")
    alert.wait_for()
    assert "this is a number" in alert.inner_text()
    assert page.url.endswith("/models/import/")
    assert ModelVersion.objects.count() == 0
