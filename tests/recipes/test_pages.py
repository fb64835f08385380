"""The Model Library pages: the list with its filters, a version's page with provenance,
the editor's errors by JSON path, and buttons present only for who may use them."""

import json
import re

from core import roles
from recipes.models import Recipe, RecipeVersion
from recipes.services import recipe_version_create
from tests.factories import role_user


def test_the_library_lists_and_filters_recipes(client, seeded, viewer):
    client.force_login(viewer)
    page = client.get("/library/").content.decode()
    assert "Forecasting baseline" in page and "Location scoring baseline" in page
    assert 'href="/models/"' in page  # the Models tab

    filtered = client.get("/library/", {"level": "client"}).content.decode()
    assert "Forecasting: Northwind Grocers" in filtered and "Pricing baseline" not in filtered


def test_a_version_page_shows_each_value_with_its_origin(client, seeded, viewer):
    client.force_login(viewer)
    response = client.get("/library/recipes/forecasting-grocery-retail/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "<code>/evaluation/metrics/0/threshold</code>" in page
    assert "overrides" in page and "25.0 from forecasting-baseline 1.0.0" in page
    assert "Synthetic example: Daily sales per store" in page
    # A viewer sees no button to write, approve, archive, clone or run.
    for absent in (
        "Save as a new draft version",
        "Approve 1.0.0",
        ">Archive<",
        ">Clone<",
        "Start run",
    ):
        assert absent not in page


def test_an_operator_saves_a_version_from_the_editor(client, seeded, operator):
    client.force_login(operator)
    latest = RecipeVersion.objects.get(recipe__slug="pricing-baseline")
    manifest = dict(latest.effective)
    manifest["evaluation"] = {
        **manifest["evaluation"],
        "metrics": [{"name": "rmse", "threshold": 55, "direction": "lower_is_better"}],
    }

    response = client.post(
        "/library/recipes/pricing-baseline/versions/new",
        {"manifest": json.dumps(manifest), "change_note": "RMSE only", "base_version": "1.0.0"},
    )

    assert response.status_code == 302
    created = RecipeVersion.objects.get(recipe__slug="pricing-baseline", version="1.1.0")
    assert created.created_by == operator and created.diff


def test_the_editor_lists_schema_errors_by_json_path(client, seeded, operator):
    client.force_login(operator)
    manifest = dict(RecipeVersion.objects.get(recipe__slug="pricing-baseline").effective)
    manifest["deployment"] = {"mode": "sometimes"}

    response = client.post(
        "/library/recipes/pricing-baseline/versions/new",
        {"manifest": json.dumps(manifest), "base_version": "1.0.0"},
    )

    assert response.status_code == 400
    assert (
        "<code>/deployment/mode</code> &#x27;sometimes&#x27; is not one of"
        in response.content.decode()
    )
    assert RecipeVersion.objects.filter(recipe__slug="pricing-baseline").count() == 1


def test_the_approve_button_is_absent_for_the_author_and_present_for_another_approver(
    client, seeded, operator
):
    author = role_user(roles.APPROVER)
    author.groups.add(*operator.groups.all())
    version = recipe_version_create(
        recipe=Recipe.objects.get(slug="pricing-baseline"),
        patch=[{"op": "replace", "path": "/evaluation/metrics/0/threshold", "value": 50}],
        actor=author,
    )
    client.force_login(author)
    own = client.get(version.get_absolute_url()).content.decode()
    assert "Approve 1.1.0" not in own and "another Approver approves it" in own

    client.force_login(role_user(roles.APPROVER))
    other = client.get(version.get_absolute_url()).content.decode()
    assert "Approve 1.1.0" in other
    response = client.post(f"{version.get_absolute_url()}approve")
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.status == "approved"


def test_clone_from_the_page_makes_a_child(client, seeded, operator):
    client.force_login(operator)
    response = client.post(
        "/library/recipes/next-best-action-baseline/clone",
        {"name": "NBA: telecom", "level": "industry"},
    )
    assert response.status_code == 302
    child = Recipe.objects.get(slug="nba-telecom")
    assert child.parent.slug == "next-best-action-baseline" and child.versions.count() == 1


def test_a_viewer_may_not_post_a_version_from_the_page(client, seeded, viewer):
    client.force_login(viewer)
    response = client.post("/library/recipes/pricing-baseline/versions/new", {"manifest": "{}"})
    assert response.status_code == 403


def test_the_editor_page_allows_codemirrors_styles_by_nonce_and_no_other_page_does(
    client, seeded, operator
):
    client.force_login(operator)
    response = client.get("/library/recipes/pricing-baseline/")
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    nonce = re.search(r"'nonce-([^']+)'", policy["style-src"]).group(1)
    page = response.content.decode()
    # The bundle (built by `make setup` from npm) carries the nonce its <style> elements use.
    assert f'src="/static/recipes/editor.bundle.js" nonce="{nonce}"' in page
    assert policy["script-src"] == "'self'"
    assert 'data-schema-url="/api/v1/schema/recipe-manifest"' in page

    library = client.get("/library/")
    assert "nonce" not in library.headers["Content-Security-Policy"]
