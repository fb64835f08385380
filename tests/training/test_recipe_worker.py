"""A real `celery -A hub worker` runs a recipe's train run (tests/celery_worker.py)."""

import pytest

from recipes.baselines import recipes_seed
from recipes.models import RecipeStatus
from tests.celery_worker import wait_for
from training.models import FineTuneJob, JobStatus, RunKind
from training.services import RunDataset, run_create

pytestmark = pytest.mark.worker


def test_a_real_worker_trains_a_recipe_run_and_registers_its_lineage(celery_worker):
    seeded = {recipe.slug: recipe for recipe in recipes_seed()}
    client_recipe = seeded["forecasting-northwind-grocers"]
    version = client_recipe.versions.get()
    assert version.status == RecipeStatus.APPROVED
    job = run_create(
        recipe_version=version, kind=RunKind.TRAIN, dataset=RunDataset(rows=900), actor=None
    )
    observed: list[int] = []

    def finished() -> bool:
        current = FineTuneJob.objects.get(pk=job.pk)
        observed.append(current.progress)
        return current.status not in (JobStatus.QUEUED, JobStatus.RUNNING)

    wait_for(finished, timeout=120, message="the run did not finish:\n" + celery_worker.log())

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error + celery_worker.log()
    assert observed == sorted(observed) and observed[-1] == 100
    lineage = job.result_version.metadata["training"]["lineage"]
    assert lineage == {
        "recipe": "forecasting-northwind-grocers",
        "recipe_version": version.version,
        "recipe_status": "approved",
        "content_hash": version.content_hash,
        "dataset_sha256": job.snapshot.sha256,
        "run": job.pk,
    }
    # The client recipe's own override reached the fit: deeper trees than the baseline's.
    assert job.result_version.metadata["training"]["params"]["max_depth"] == 4
    assert "training.job_run" in celery_worker.log()
    reference = job.result_version.monitoring_reference  # made by the worker: the hold-out
    assert reference.rows == job.result_version.metadata["training"]["test_rows"] > 0
    assert reference.features == job.result_version.feature_names
