"""A version a training job or a recipe run registers gets its monitoring reference: the
hold-out rows it was evaluated on, capped and seeded, with its own scores on them."""

import numpy as np
import pandas as pd
import pytest
from django.contrib.auth.models import Group, Permission
from sklearn.model_selection import train_test_split

from core.roles import roles_sync
from monitoring.models import Reference, ReferenceSource
from monitoring.reference import ReferenceInvalid
from recipes.baselines import recipes_seed
from recipes.models import Recipe, RecipeStatus
from registry.artifacts import artifact_load
from registry.demo import CREDIT_FEATURES
from tests.training.factories import credit_group, decision_log, log_decisions
from training.models import EventLevel, JobStatus, RunKind
from training.services import RunDataset, job_create, run_create
from training.tasks import job_run

GB = {"n_estimators": 20, "max_depth": 2, "learning_rate": 0.2}


@pytest.fixture
def live_group(db):
    group, champion = credit_group()
    log_decisions(group, champion, rows=600)
    return group, champion


def _trained(group, champion):
    job = job_create(
        preset="gradient_boosting",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters=GB,
    )
    job_run(job.pk)  # the task function itself, in this process
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def _holdout(job) -> pd.DataFrame:
    """The job's hold-out, split again straight with scikit-learn."""
    with job.snapshot.file.open("rb") as fh:
        frame = pd.read_csv(fh)
    _, X_test = train_test_split(
        frame[CREDIT_FEATURES],
        test_size=0.2,
        random_state=42,
        stratify=frame["outcome"],
    )
    return X_test


def test_a_trained_version_gets_its_hold_out_rows_and_scores_as_reference(live_group):
    job = _trained(*live_group)

    version = job.result_version
    reference = Reference.objects.get(model_version=version)
    holdout = _holdout(job)
    assert reference.source == ReferenceSource.TRAINING
    assert reference.rows == len(holdout) == version.metadata["training"]["test_rows"] == 120
    assert reference.features == version.feature_names == CREDIT_FEATURES
    # Every hold-out row (under the cap), in the split's order, and the version's scores.
    for name in CREDIT_FEATURES:
        assert reference.sample[name] == pytest.approx(holdout[name].tolist())
        assert reference.summaries[name]["count"] == 120
        assert reference.summaries[name]["max"] == pytest.approx(holdout[name].max())
    expected = artifact_load(version).predict_proba(holdout)[:, 1]
    assert np.allclose(reference.sample_scores, expected, atol=1e-12)
    assert reference.score_summary["count"] == 120
    assert job.events.filter(message__startswith=f"Monitoring reference of {version}").exists()


def test_a_large_hold_out_is_kept_as_a_capped_seeded_sample_with_exact_summaries(
    live_group, settings
):
    settings.HUB_MONITORING_REFERENCE_ROWS = 50
    job = _trained(*live_group)

    reference = Reference.objects.get(model_version=job.result_version)
    holdout = _holdout(job)
    assert reference.rows == 120
    assert len(reference.sample["income"]) == len(reference.sample_scores) == 50
    # pandas' seeded sample of the hold-out rows, kept in hold-out order.
    rows = holdout.reset_index(drop=True)
    expected = rows.sample(n=50, random_state=settings.HUB_MONITORING_SEED).sort_index()
    assert reference.sample["income"] == pytest.approx(expected["income"].tolist())
    assert reference.summaries["income"]["count"] == 120
    assert reference.summaries["income"]["min"] == pytest.approx(holdout["income"].min())


def test_a_reference_that_cannot_be_made_leaves_the_job_succeeded_and_says_why(
    live_group, monkeypatch
):
    def refuse(**kwargs):
        raise ReferenceInvalid("The reference has no rows.", {"file": ["No rows."]})

    monkeypatch.setattr("training.services.results.reference_from_frame", refuse)

    job = _trained(*live_group)

    assert job.result_version is not None
    assert not Reference.objects.filter(model_version=job.result_version).exists()
    warning = job.events.get(level=EventLevel.WARNING)
    assert warning.message.startswith(f"No monitoring reference for {job.result_version}")


def test_a_recipe_train_run_registers_a_version_with_its_hold_out_as_reference(db):
    roles_sync(Group, Permission)
    recipes_seed()
    recipe_version = Recipe.objects.get(slug="pricing-baseline").versions.get(
        status=RecipeStatus.APPROVED
    )
    job = run_create(
        recipe_version=recipe_version,
        kind=RunKind.TRAIN,
        dataset=RunDataset(rows=900),
        actor=None,
    )

    job_run(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    version = job.result_version
    reference = Reference.objects.get(model_version=version)
    assert reference.source == ReferenceSource.TRAINING
    assert reference.rows == version.metadata["training"]["test_rows"] > 0
    assert reference.features == version.feature_names
    assert len(reference.sample_scores) == reference.rows
    assert all(score is not None for score in reference.sample_scores)
