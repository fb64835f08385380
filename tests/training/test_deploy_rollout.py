"""Deploy on an approved recipe's trained version starts a gated rollout of that version in
the recipe's target group (hub/deploy.py), through the runs API and the run page: the plan
from the manifest's `deployment.rollout`, one active rollout per group, and who may."""

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from core import roles
from core.roles import roles_sync
from groups.models import Membership
from groups.services import MemberSpec, group_create
from hub.deploy import rollout_plan
from recipes.baselines import recipes_seed
from recipes.models import Recipe, RecipeStatus
from recipes.services import recipe_version_approve, recipe_version_create
from rollouts.models import Rollout
from tests.factories import TeamFactory, role_user
from training.models import FineTuneJob, JobStatus, RunKind
from training.services import RunDataset, run_create
from training.tasks import job_run

RUNS = "/api/v1/runs/"
RECIPE = "location-scoring-baseline"


@pytest.fixture(autouse=True)
def _recipe_perms_in_roles(db):
    roles_sync(Group, Permission)


def _train(recipe_version) -> FineTuneJob:
    job = run_create(
        recipe_version=recipe_version,
        kind=RunKind.TRAIN,
        dataset=RunDataset(rows=900),
        actor=None,
    )
    job_run(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


@pytest.fixture
def deployable(db, approver):
    """A train run of an approved location-scoring version whose manifest targets a group
    (champion: an earlier version) with a rollout of three steps."""
    recipes_seed()
    baseline = Recipe.objects.get(slug=RECIPE).versions.get(status=RecipeStatus.APPROVED)
    champion = _train(baseline).result_version
    group = group_create(
        name="Site selection", members=[MemberSpec(champion, "champion", 100)], created_by=None
    )
    author = role_user(roles.OPERATOR, username="author")
    targeting = recipe_version_create(
        recipe=Recipe.objects.get(slug=RECIPE),
        patch=[
            {"op": "add", "path": "/deployment/target_group", "value": group.slug},
            {
                "op": "add",
                "path": "/deployment/rollout",
                "value": {"steps": [10, 50, 100], "margin": 0.5, "step_min_minutes": 30},
            },
        ],
        actor=author,
    )
    recipe_version_approve(version=targeting, actor=approver)
    return _train(targeting), group


def test_deploy_starts_a_gated_rollout_with_the_manifests_plan(deployable, operator):
    job, group = deployable
    client = APIClient()
    client.force_authenticate(operator)

    response = client.post(f"{RUNS}{job.pk}/deploy")

    assert response.status_code == 201, response.json()
    body = response.json()
    rollout = Rollout.objects.get(group=group, challenger=job.result_version)
    assert body["rollout"]["id"] == rollout.pk and body["rollout"]["state"] == "running"
    assert body["group"] == group.slug and body["role"] == "challenger"
    # The manifest's steps, margin and step time; the metric: the recipe's own rmse.
    assert rollout.steps == [10, 50, 100] and rollout.margin == 0.5
    assert rollout.step_min_minutes == 30 and rollout.metric == "rmse"
    member = Membership.objects.get(group=group, model_version=job.result_version)
    assert member.role == "challenger" and member.weight == rollout.current_weight == 10
    assert body["weight"] == 10 and body["rollout"]["weight"] == 10
    assert body["model_version"]["id"] == job.result_version.pk
    # Both links lead to the rollout.
    assert (
        client.get(body["rollout"]["api_url"]).json()["challenger"]["id"] == job.result_version.pk
    )
    assert body["rollout"]["url"] == f"/groups/{group.slug}/rollouts/{rollout.pk}/"


def test_a_second_deploy_during_an_active_rollout_is_a_conflict(deployable, operator):
    job, group = deployable
    client = APIClient()
    client.force_authenticate(operator)
    first = client.post(f"{RUNS}{job.pk}/deploy").json()["rollout"]["id"]

    again = client.post(f"{RUNS}{job.pk}/deploy/")

    assert again.status_code == 409
    message = again.json()["message"]
    assert f"Site selection already has an active rollout (#{first} of" in message
    assert "finish or abort it first" in message
    assert Rollout.objects.filter(group=group).count() == 1


def test_a_viewer_or_another_teams_operator_may_not_deploy(deployable, viewer):
    job, group = deployable
    client = APIClient()
    client.force_authenticate(viewer)
    assert client.post(f"{RUNS}{job.pk}/deploy").status_code == 403
    outsider = role_user(roles.OPERATOR, team=TeamFactory(name="Elsewhere", slug="elsewhere"))
    client.force_authenticate(outsider)
    assert client.post(f"{RUNS}{job.pk}/deploy").status_code in (403, 404)
    assert not Rollout.objects.filter(group=group).exists()
    assert not Membership.objects.filter(group=group, model_version=job.result_version).exists()


def test_a_rollout_metric_the_group_cannot_measure_is_refused_on_its_json_path(
    db, approver, operator
):
    recipes_seed()
    baseline = Recipe.objects.get(slug=RECIPE).versions.get(status=RecipeStatus.APPROVED)
    champion = _train(baseline).result_version
    group = group_create(
        name="Sites", members=[MemberSpec(champion, "champion", 100)], created_by=None
    )
    targeting = recipe_version_create(
        recipe=Recipe.objects.get(slug=RECIPE),
        patch=[
            {"op": "add", "path": "/deployment/target_group", "value": group.slug},
            {"op": "add", "path": "/deployment/rollout", "value": {"metric": "accuracy"}},
        ],
        actor=role_user(roles.OPERATOR, username="author"),
    )
    recipe_version_approve(version=targeting, actor=approver)
    job = _train(targeting)
    client = APIClient()
    client.force_authenticate(operator)

    response = client.post(f"{RUNS}{job.pk}/deploy")

    assert response.status_code == 400
    assert "regression group" in response.json()["errors"]["/deployment/rollout/metric"][0]
    assert not Rollout.objects.filter(group=group).exists()


def test_the_run_page_deploys_and_links_to_the_rollout(deployable, client, operator):
    job, group = deployable
    client.force_login(operator)
    page = client.get(job.get_absolute_url()).content.decode()
    assert f"Deploy to {group.slug}: start a gated rollout" in page

    response = client.post(f"/training/jobs/{job.pk}/deploy", follow=True)

    rollout = Rollout.objects.get(group=group, challenger=job.result_version)
    assert response.redirect_chain[-1][0] == rollout.get_absolute_url()
    assert f"Rollout #{rollout.pk} started in Site selection" in response.content.decode()
    run_page = client.get(job.get_absolute_url()).content.decode()
    assert f'href="{rollout.get_absolute_url()}">Rollout #{rollout.pk}</a>' in run_page
    again = client.post(f"/training/jobs/{job.pk}/deploy", follow=True).content.decode()
    assert "Not deployed: Site selection already has an active rollout" in again


def test_the_plan_takes_what_the_manifest_says_and_a_metric_for_the_task():
    manifest = {
        "evaluation": {"metrics": [{"name": "ndcg_at_10"}, {"name": "rmse"}, {"name": "mae"}]},
        "deployment": {"rollout": {"steps": [20, 100], "shadow_first": True}},
    }
    assert rollout_plan(manifest, task="regression") == {
        "steps": [20, 100],
        "shadow_first": True,
        "metric": "rmse",
    }
    assert rollout_plan({}, task="regression") == {"metric": "mae"}
    assert rollout_plan({}, task="binary_classification") == {"metric": "accuracy"}
    chosen = {"deployment": {"rollout": {"metric": "auc_roc"}}}
    assert rollout_plan(chosen, task="binary_classification") == {"metric": "auc_roc"}
