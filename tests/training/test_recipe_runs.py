"""Recipe runs (train, eval, backtest) on the baselines' synthetic examples, through the
runs API and the same worker task as every job; the approval gate on what they register."""

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from core.roles import roles_sync
from recipes.baselines import recipes_seed
from recipes.models import Recipe, RecipeStatus
from recipes.services import recipe_version_create
from registry.models import VersionStatus
from registry.services import RegistryValidationError, model_version_transition
from training.models import FineTuneJob, JobStatus, RunKind
from training.services import RunDataset, run_create
from training.tasks import job_run

RUNS = "/api/v1/runs/"
SMALL = RunDataset(rows=900)


@pytest.fixture(autouse=True)
def _recipe_perms_in_roles(db):
    roles_sync(Group, Permission)


@pytest.fixture
def seeded(db):
    return {recipe.slug: recipe for recipe in recipes_seed()}


def _approved(slug: str):
    return Recipe.objects.get(slug=slug).versions.get(status=RecipeStatus.APPROVED)


def _run(recipe_version, kind: str, dataset: RunDataset = SMALL, **fields) -> FineTuneJob:
    job = run_create(
        recipe_version=recipe_version, kind=kind, dataset=dataset, actor=None, **fields
    )
    job_run(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def test_a_backtest_of_the_forecasting_child_finishes_with_per_fold_metrics(seeded, operator):
    client = APIClient()
    client.force_authenticate(operator)
    industry = _approved("forecasting-grocery-retail")

    response = client.post(
        RUNS,
        {"recipe": "forecasting-grocery-retail", "version": industry.version, "kind": "backtest"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    job_run(response.json()["id"])
    body = client.get(f"{RUNS}{response.json()['id']}/").json()

    assert body["status"] == "succeeded" and body["progress"] == 100
    assert body["kind"] == "backtest" and body["recipe"]["slug"] == "forecasting-grocery-retail"
    folds = body["folds"]
    assert [f["fold"] for f in folds] == [1, 2, 3]
    assert all(f["test_rows"] == 14 * 6 for f in folds)  # 14 days of 6 stores
    assert all({"mae", "smape", "mase"} <= set(f["metrics"]) for f in folds)
    # Rolling origin: every fold trains on more history than the one before.
    assert folds[0]["train_rows"] < folds[1]["train_rows"] < folds[2]["train_rows"]
    mean_mae = sum(f["metrics"]["mae"] for f in folds) / 3
    assert body["metrics"]["mae"] == pytest.approx(mean_mae)
    gate = {m["name"]: m for m in body["gate"]["metrics"]}
    assert gate["mae"]["threshold"] == 22.0  # the industry child's override
    assert body["charts"]["folds"]["kind"] == "bars" and len(body["charts"]["folds"]["labels"]) == 3
    assert any(line["message"].startswith("Fold 3 (") for line in body["logs"])
    assert body["result_version"] is None


def test_a_train_run_registers_a_version_whose_metadata_names_the_recipe_version(seeded):
    version = _approved("forecasting-baseline")

    job = _run(version, RunKind.TRAIN)

    registered = job.result_version
    lineage = registered.metadata["training"]["lineage"]
    assert lineage["recipe"] == "forecasting-baseline"
    assert lineage["recipe_version"] == version.version
    assert lineage["content_hash"] == version.content_hash
    assert lineage["dataset_sha256"] == job.snapshot.sha256
    assert lineage["recipe_status"] == "approved"
    assert registered.status == VersionStatus.STAGING
    assert registered.model == Recipe.objects.get(slug="forecasting-baseline").model
    assert {"mae", "smape", "mase"} <= set(job.results["metrics"])
    assert [f["name"] for f in registered.metadata["features"]][:3] == [
        "store_id",
        "promo",
        "price",
    ]


def test_a_draft_recipe_version_trains_a_draft_the_registry_keeps_out_of_staging(seeded, operator):
    draft = recipe_version_create(
        recipe=Recipe.objects.get(slug="pricing-baseline"),
        patch=[{"op": "replace", "path": "/evaluation/metrics/0/threshold", "value": 50.0}],
        actor=operator,
    )

    job = _run(draft, RunKind.TRAIN)

    registered = job.result_version
    assert registered.status == VersionStatus.DRAFT
    assert registered.metadata["training"]["lineage"]["recipe_status"] == "draft"
    with pytest.raises(RegistryValidationError) as refused:
        model_version_transition(
            version=registered, to_status=VersionStatus.STAGING, actor=operator
        )
    assert "not approved" in refused.value.message


@pytest.mark.parametrize(
    ("slug", "metrics"),
    [
        ("next-best-action-baseline", {"accuracy", "f1_macro", "top_3_accuracy"}),
        ("location-scoring-baseline", {"ndcg_at_10", "spearman", "rmse"}),
    ],
)
def test_the_other_baselines_really_train_and_pass_their_gate(seeded, slug, metrics):
    job = _run(_approved(slug), RunKind.TRAIN)

    assert metrics <= set(job.results["metrics"])
    assert job.results["gate"]["passed"] is True
    assert job.result_version.metadata["task"] in ("regression", "multiclass_classification")


def test_an_eval_run_scores_the_trained_version_against_the_thresholds(seeded, client, operator):
    version = _approved("pricing-baseline")
    trained = _run(version, RunKind.TRAIN).result_version

    evaluation = _run(version, RunKind.EVAL, RunDataset(rows=600, seed=99))

    assert evaluation.evaluated_version == trained
    assert [m["name"] for m in evaluation.results["gate"]["metrics"]] == ["rmse", "mae"]
    assert all(m["passed"] for m in evaluation.results["gate"]["metrics"])
    client.force_login(operator)
    page = client.get(trained.get_absolute_url()).content.decode()
    assert "Evaluation gate" in page and f"run {evaluation.pk}" in page


def test_a_run_on_bad_hyperparameters_is_refused_on_the_manifest_path(seeded, operator):
    version = recipe_version_create(
        recipe=Recipe.objects.get(slug="pricing-baseline"),
        patch=[
            {
                "op": "replace",
                "path": "/pipeline/training/hyperparameters/n_estimators",
                "value": -3,
            }
        ],
        actor=operator,
    )
    client = APIClient()
    client.force_authenticate(operator)

    response = client.post(
        RUNS,
        {"recipe": "pricing-baseline", "version": version.version, "kind": "train"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["/pipeline/training/hyperparameters/n_estimators"]
    assert not FineTuneJob.objects.exists()


def test_a_viewer_may_not_start_a_run(seeded, viewer):
    client = APIClient()
    client.force_authenticate(viewer)
    response = client.post(
        RUNS, {"recipe": "pricing-baseline", "version": "1.0.0", "kind": "backtest"}, format="json"
    )
    assert response.status_code == 403


def test_the_runs_list_filters_by_kind_and_recipe(seeded, viewer):
    run_create(
        recipe_version=_approved("pricing-baseline"), kind="backtest", dataset=SMALL, actor=None
    )
    run_create(
        recipe_version=_approved("location-scoring-baseline"),
        kind="train",
        dataset=SMALL,
        actor=None,
    )
    client = APIClient()
    client.force_authenticate(viewer)
    backtests = client.get(RUNS, {"kind": "backtest"}).json()
    assert (
        backtests["count"] == 1 and backtests["results"][0]["recipe"]["slug"] == "pricing-baseline"
    )
    assert client.get(RUNS, {"recipe": "location-scoring-baseline"}).json()["count"] == 1


def _targeting(slug: str, group: str, actor) -> object:
    return recipe_version_create(
        recipe=Recipe.objects.get(slug=slug),
        patch=[{"op": "add", "path": "/deployment/target_group", "value": group}],
        actor=actor,
    )


def test_deploy_refuses_a_version_trained_from_a_draft_recipe(seeded, operator):
    job = _run(_targeting("location-scoring-baseline", "site-selection", operator), RunKind.TRAIN)
    client = APIClient()
    client.force_authenticate(operator)

    refused = client.post(f"{RUNS}{job.pk}/deploy")

    assert refused.status_code == 409
    assert "not approved" in refused.json()["message"]


# Deploying an approved recipe's version starts a gated rollout: test_deploy_rollout.py.


def test_the_run_page_shows_the_gate_the_folds_and_a_terminal_log(seeded, client, viewer):
    job = _run(_approved("forecasting-baseline"), RunKind.BACKTEST)
    client.force_login(viewer)

    page = client.get(job.get_absolute_url()).content.decode()

    assert f"Run {job.pk}: backtest of" in page
    assert "Evaluation gate passed" in page or "Evaluation gate failed" in page
    assert page.count("<td>3</td>") >= 1 and "Metrics per fold" in page
    assert 'class="run-log"' in page and "Fold 2 (" in page
    assert "Deploy to" not in page  # a backtest registers nothing to deploy


def test_the_demo_seed_is_idempotent_and_queues_one_train_run_per_baseline(db):
    from recipes.models import RecipeVersion
    from training.demo import demo_runs_seed

    first = demo_runs_seed()
    again = demo_runs_seed()

    assert len(first) == 4 and again == []
    assert Recipe.objects.count() == 6 and RecipeVersion.objects.count() == 6
    assert {job.kind for job in first} == {"train"} and all(j.status == "queued" for j in first)
