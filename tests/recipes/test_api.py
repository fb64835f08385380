"""The recipes API: the baselines, provenance, versions from a manifest or a patch, the
stale-patch refusal, four-eyes approval, clones, the schema, and who may do what."""

import copy

from rest_framework.test import APIClient

from core import roles
from recipes.models import Recipe, RecipeStatus, RecipeVersion
from recipes.services import recipe_version_create
from tests.factories import role_user
from tests.groups.factories import make_api_key

RECIPES = "/api/v1/recipes/"
BASELINE = "forecasting-baseline"
INDUSTRY = "forecasting-grocery-retail"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _latest(slug: str) -> RecipeVersion:
    return RecipeVersion.objects.filter(recipe__slug=slug).order_by("-id").first()


def _threshold_patch(value: float, *, expected: float | None = None) -> list[dict]:
    ops = []
    if expected is not None:
        ops.append({"op": "test", "path": "/evaluation/metrics/0/threshold", "value": expected})
    ops.append({"op": "replace", "path": "/evaluation/metrics/0/threshold", "value": value})
    return ops


def test_the_four_baselines_are_listed(seeded, viewer):
    response = _client(viewer).get(RECIPES, {"level": "baseline"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert {r["family"] for r in body["results"]} == {
        "forecasting",
        "pricing",
        "next_best_action",
        "location_scoring",
    }
    assert all(r["latest_approved_version"] == "1.0.0" for r in body["results"])


def test_the_list_filters_by_family_status_and_text(seeded, viewer):
    client = _client(viewer)
    family = client.get(RECIPES, {"family": "forecasting"}).json()
    assert [r["level"] for r in family["results"]] == ["baseline", "client", "industry"]
    assert client.get(RECIPES, {"q": "grocers"}).json()["count"] == 1
    assert client.get(RECIPES, {"status": "draft"}).json()["count"] == 0
    bad = client.get(RECIPES, {"family": "astrology"})
    assert bad.status_code == 400 and "family" in bad.json()["errors"]


def test_an_industry_child_overriding_one_threshold_is_named_for_that_leaf_only(seeded, viewer):
    response = _client(viewer).get(f"{RECIPES}{INDUSTRY}/versions/1.0.0/", {"effective": "1"})

    assert response.status_code == 200
    body = response.json()
    provenance = body["provenance"]
    mae = provenance["/evaluation/metrics/0/threshold"]
    assert body["effective"]["evaluation"]["metrics"][0]["threshold"] == 22.0
    assert mae["recipe"] == INDUSTRY and mae["overrides"] is True
    assert mae["previous"] == {"recipe": BASELINE, "version": "1.0.0", "value": 25.0}
    for leaf in (
        "/evaluation/metrics/1/threshold",
        "/evaluation/metrics/2/threshold",
        "/pipeline/training/algorithm",
        "/evaluation/validation/strategy",
    ):
        assert provenance[leaf]["recipe"] == BASELINE and provenance[leaf]["overrides"] is False
    # The stored layer holds only what differs from the baseline.
    assert set(body["manifest"]) == {"metadata", "evaluation"}


def test_a_patch_makes_a_minor_draft_version_with_its_diff_and_hash(seeded, operator):
    response = _client(operator).post(
        f"{RECIPES}{BASELINE}/versions/",
        {"patch": _threshold_patch(24.0, expected=25.0), "change_note": "Tighter MAE."},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == "1.1.0" and body["status"] == "draft"
    assert body["diff"] == [
        {"op": "replace", "path": "/evaluation/metrics/0/threshold", "value": 24.0}
    ]
    assert len(body["content_hash"]) == 64 and body["previous"] == "1.0.0"


def test_a_patch_made_against_a_stale_version_is_refused_with_409(seeded, operator):
    client = _client(operator)
    url = f"{RECIPES}{BASELINE}/versions/"
    first = client.post(url, {"patch": _threshold_patch(24.0, expected=25.0)}, format="json")
    assert first.status_code == 201

    # Made by someone who still saw 25.0.
    stale = client.post(url, {"patch": _threshold_patch(23.0, expected=25.0)}, format="json")

    assert stale.status_code == 409
    assert "patch[0]" in stale.json()["errors"]
    assert RecipeVersion.objects.filter(recipe__slug=BASELINE).count() == 2
    older = client.post(
        url, {"patch": _threshold_patch(23.0), "base_version": "1.0.0"}, format="json"
    )
    assert older.status_code == 409 and "base_version" in older.json()["errors"]


def test_changing_requirements_makes_a_major_version(seeded, operator):
    patch = [{"op": "replace", "path": "/requirements/min_rows", "value": 300}]
    response = _client(operator).post(
        f"{RECIPES}{BASELINE}/versions/", {"patch": patch}, format="json"
    )
    assert response.status_code == 201 and response.json()["version"] == "2.0.0"


def test_schema_errors_name_the_json_path_and_nothing_is_written(seeded, operator):
    manifest = copy.deepcopy(_latest(BASELINE).effective)
    manifest["evaluation"]["metrics"][0]["threshold"] = "tight"

    response = _client(operator).post(
        f"{RECIPES}{BASELINE}/versions/", {"manifest": manifest}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "/evaluation/metrics/0/threshold": ["'tight' is not of type 'number'"]
    }
    assert RecipeVersion.objects.filter(recipe__slug=BASELINE).count() == 1


def test_the_check_endpoint_validates_without_writing(seeded, operator):
    response = _client(operator).post(
        f"{RECIPES}{BASELINE}/check", {"patch": _threshold_patch(20.0)}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["valid"] is True and response.json()["version"] == "1.1.0"
    assert RecipeVersion.objects.filter(recipe__slug=BASELINE).count() == 1


def test_an_author_cannot_approve_their_own_version(seeded):
    author = role_user(roles.APPROVER)
    author.groups.add(*role_user(roles.OPERATOR).groups.all())
    version = recipe_version_create(
        recipe=Recipe.objects.get(slug=BASELINE), patch=_threshold_patch(24.0), actor=author
    )

    response = _client(author).post(f"{RECIPES}{BASELINE}/versions/{version.version}/approve")

    assert response.status_code == 403
    assert "Four-eyes" in response.json()["message"]
    version.refresh_from_db()
    assert version.status == RecipeStatus.DRAFT and version.approved_by is None


def test_another_approver_approves_and_is_recorded(seeded, operator, approver):
    version = recipe_version_create(
        recipe=Recipe.objects.get(slug=BASELINE), patch=_threshold_patch(24.0), actor=operator
    )

    response = _client(approver).post(f"{RECIPES}{BASELINE}/versions/{version.version}/approve")

    assert response.status_code == 200, response.json()
    assert (
        response.json()["status"] == "approved"
        and response.json()["approved_by"] == approver.username
    )
    again = _client(approver).post(f"{RECIPES}{BASELINE}/versions/{version.version}/approve")
    assert again.status_code == 409


def test_an_operator_may_not_approve(seeded, operator):
    response = _client(operator).post(f"{RECIPES}{BASELINE}/versions/1.0.0/archive")
    assert response.status_code == 200 and response.json()["status"] == "archived"
    version = recipe_version_create(
        recipe=Recipe.objects.get(slug=BASELINE),
        patch=_threshold_patch(24.0),
        actor=role_user(roles.OPERATOR),
    )
    refused = _client(operator).post(f"{RECIPES}{BASELINE}/versions/{version.version}/approve")
    assert refused.status_code == 403


def test_clone_makes_an_inheriting_child(seeded, operator, viewer):
    response = _client(operator).post(
        f"{RECIPES}pricing-baseline/clone",
        {"name": "Pricing: fashion", "level": "industry"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["parent"] == "pricing-baseline"
    detail = _client(viewer).get(f"{RECIPES}pricing-fashion/versions/1.0.0/?effective=1").json()
    assert detail["parent_version"] == {"recipe": "pricing-baseline", "version": "1.0.0"}
    assert detail["manifest"] == {"metadata": {"title": "Pricing: fashion"}}
    assert detail["provenance"]["/pipeline/training/algorithm"]["recipe"] == "pricing-baseline"
    wrong = _client(operator).post(
        f"{RECIPES}pricing-baseline/clone", {"name": "Another", "level": "baseline"}, format="json"
    )
    assert wrong.status_code == 400 and "level" in wrong.json()["errors"]


def test_a_viewer_reads_but_may_not_write(seeded, viewer):
    client = _client(viewer)
    assert client.get(f"{RECIPES}{BASELINE}/versions/").status_code == 200
    response = client.post(
        f"{RECIPES}{BASELINE}/versions/", {"patch": _threshold_patch(1.0)}, format="json"
    )
    assert response.status_code == 403
    assert (
        client.post(
            f"{RECIPES}{BASELINE}/clone", {"name": "x", "level": "industry"}, format="json"
        ).status_code
        == 403
    )


def test_api_keys_read_with_read_and_write_with_manage(seeded):
    _, read_key = make_api_key(name="reader", scopes=("read",), all_groups=True)
    _, manage_key = make_api_key(name="writer", scopes=("manage",), all_groups=True)
    client = APIClient()
    listed = client.get(RECIPES, HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert listed.status_code == 200 and listed.json()["count"] == 6
    refused = client.post(
        f"{RECIPES}{BASELINE}/versions/",
        {"patch": _threshold_patch(24.0)},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {read_key}",
    )
    assert refused.status_code == 403
    made = client.post(
        f"{RECIPES}{BASELINE}/versions/",
        {"patch": _threshold_patch(24.0)},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {manage_key}",
    )
    assert made.status_code == 201 and made.json()["author"].startswith("key:")


def test_the_manifest_schema_is_served(client, db):
    response = client.get("/api/v1/schema/recipe-manifest")
    assert response.status_code == 200
    assert set(response.json()["properties"]) >= {
        "metadata",
        "requirements",
        "pipeline",
        "evaluation",
        "lineage",
        "deployment",
        "monitoring",
    }


def test_another_teams_operator_may_not_write_a_version(seeded, other_team):
    outsider = role_user(roles.OPERATOR, team=other_team)
    response = _client(outsider).post(
        f"{RECIPES}{BASELINE}/versions/", {"patch": _threshold_patch(24.0)}, format="json"
    )
    assert response.status_code == 403
