"""In Chromium: the group page's inline promotion (htmx), set traffic and rollback."""

import pytest
from playwright.sync_api import expect

from core import roles
from groups.models import ModelGroup
from groups.services import group_delete
from tests.browser import log_in, screenshot
from tests.factories import role_user
from tests.groups.factories import group_with_members

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_group():
    group, versions = group_with_members(
        name="Browser Scoring", weights=(90, 10), deletion_policy="drop"
    )
    yield group, versions
    # Transactional tests truncate tables but never drop them: drop the group's own.
    for leftover in ModelGroup.objects.filter(pk=group.pk):
        group_delete(group=leftover, actor=None)


def test_promote_confirm_and_roll_back_on_the_group_page(browser_page, browser_group):
    page = browser_page
    group, (champion, challenger) = browser_group
    user = role_user(roles.OPERATOR)
    log_in(page, user.username, "correct-horse-battery")

    page.goto(f"/groups/{group.slug}/")
    expect(page.locator("#curl-example")).to_contain_text("Authorization: Bearer <your key>")
    page.get_by_role("button", name="Promote to Champion").click()
    confirmation = page.locator("#promote-confirmation")
    expect(confirmation).to_contain_text(
        f"Promote {challenger.model.name} {challenger.version} to champion?"
    )
    assert page.url.endswith(f"/groups/{group.slug}/")  # htmx: inline, no navigation, no modal
    screenshot(page, "groups-promote-confirm")
    confirmation.locator('input[name="reason"]').fill("better on live traffic")
    confirmation.get_by_role("button", name="Confirm promotion").click()

    expect(page.locator(".messages")).to_contain_text("is now the champion")
    challenger_row = page.locator(
        "tr", has_text=f"{challenger.model.name} {challenger.version}"
    ).first
    expect(challenger_row).to_contain_text("Champion")
    expect(challenger_row).to_contain_text("100%")
    expect(page.locator("text=better on live traffic")).to_be_visible()
    screenshot(page, "groups-promoted")

    page.get_by_role("button", name=f"Roll back to {champion}").click()
    expect(page.locator(".messages")).to_contain_text("is the champion of Browser Scoring again")
    assert group.memberships.get(model_version=champion).weight == 90
