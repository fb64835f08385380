import hashlib
from datetime import timedelta

import pandas as pd
import pytest
from django.db.models.signals import post_save
from django.utils import timezone
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from groups.models import Membership
from registry.artifacts import artifact_load
from registry.demo import CREDIT_FEATURES
from registry.models import VersionSource, VersionStatus
from registry.predictors import predictor_for
from tests.training.factories import credit_csv, credit_group, decision_log, log_decisions, upload
from training import services
from training.models import Dataset, DatasetSnapshot, FineTuneJob, JobEvent, JobStatus
from training.services import TrainingValidationError, job_create
from training.tasks import job_run, jobs_fail_stale

GB = {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.2}


@pytest.fixture
def live_group(db):
    group, champion = credit_group()
    log_decisions(group, champion, rows=600)
    return group, champion


def _nothing_written(callbacks) -> None:
    assert callbacks == []
    assert FineTuneJob.objects.count() == 0
    assert Dataset.objects.count() == 0 and DatasetSnapshot.objects.count() == 0


def test_a_job_from_the_decision_log_snapshots_its_rows_and_is_queued_on_commit(
    live_group, user, django_capture_on_commit_callbacks
):
    group, champion = live_group
    with django_capture_on_commit_callbacks() as callbacks:
        job = job_create(
            preset="gradient_boosting",
            model=champion.model,
            dataset=decision_log(group),
            hyperparameters=GB,
            created_by=user,
        )

    assert len(callbacks) == 1
    assert job.status == JobStatus.QUEUED and job.model == champion.model
    assert job.hyperparameters == {
        **GB,
        "subsample": 1.0,
        "validation_split": 0.2,
        "random_state": 42,
    }
    snapshot = job.snapshot
    assert snapshot.row_count == 600
    assert snapshot.columns == [*CREDIT_FEATURES, "outcome"]
    with snapshot.file.open("rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == snapshot.sha256
    assert job.dataset.name == "Live Credit Scoring decision log"


def test_bad_hyperparameters_are_a_clear_error_and_nothing_is_queued(
    live_group, django_capture_on_commit_callbacks
):
    group, champion = live_group
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(TrainingValidationError) as caught,
    ):
        job_create(
            preset="gradient_boosting",
            model=champion.model,
            dataset=decision_log(group),
            hyperparameters={"n_estimators": -5, "learning_rate": "fast"},
        )

    assert caught.value.errors == {
        "hyperparameters.n_estimators": ["must be at least 1, got -5."],
        "hyperparameters.learning_rate": ["must be a number, got 'fast'."],
    }
    _nothing_written(callbacks)


def test_an_empty_decision_log_is_a_clear_error_and_nothing_is_queued(
    db, django_capture_on_commit_callbacks
):
    group, champion = credit_group()
    log_decisions(group, champion, rows=50, with_outcome=False)

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(TrainingValidationError) as caught,
    ):
        job_create(preset="random_forest", model=champion.model, dataset=decision_log(group))

    assert "has no predictions with a recorded outcome" in caught.value.errors["dataset"][0]
    _nothing_written(callbacks)


def test_a_csv_missing_a_feature_is_a_clear_error_and_nothing_is_queued(
    live_group, django_capture_on_commit_callbacks
):
    _, champion = live_group
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(TrainingValidationError) as caught,
    ):
        job_create(
            preset="logistic_regression",
            model=champion.model,
            dataset=upload(credit_csv(drop=("debt_ratio",))),
        )

    assert caught.value.errors == {
        "file": [
            "Column 'debt_ratio' is missing: the base model's features are "
            + ", ".join(CREDIT_FEATURES)
            + "."
        ]
    }
    _nothing_written(callbacks)


def test_a_preset_on_a_decision_log_defaults_to_the_champions_model(live_group):
    group, champion = live_group

    job = job_create(preset="gradient_boosting", dataset=decision_log(group))

    assert job.model == champion.model


def test_a_preset_on_an_upload_needs_the_model_that_receives_the_version(db):
    with pytest.raises(TrainingValidationError) as caught:
        job_create(preset="gradient_boosting", dataset=upload(credit_csv()))

    assert caught.value.errors == {
        "model": ["Choose the registered model that receives the new version."]
    }


def test_a_gradient_boosting_job_registers_a_version_with_scikit_learns_hold_out_metrics(
    live_group, user
):
    group, champion = live_group
    job = job_create(
        preset="gradient_boosting",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters=GB,
        created_by=user,
    )

    job_run(job.pk)  # the task function itself, in this process

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.progress, job.stage) == (100, "Done")
    version = job.result_version
    assert version.version == "1.3" and version.status == VersionStatus.STAGING
    assert (version.source, version.source_ref) == (VersionSource.TRAINING, str(job.pk))
    assert version.metadata["training"]["snapshot"]["sha256"] == job.snapshot.sha256

    # The same split and estimator, straight from scikit-learn.
    with job.snapshot.file.open("rb") as fh:
        frame = pd.read_csv(fh)
    X_train, X_test, y_train, y_test = train_test_split(
        frame[CREDIT_FEATURES],
        frame["outcome"],
        test_size=0.2,
        random_state=42,
        stratify=frame["outcome"],
    )
    reference = GradientBoostingClassifier(random_state=42, subsample=1.0, **GB).fit(
        X_train, y_train
    )
    scores = reference.predict_proba(X_test)[:, 1]
    metrics = version.metadata["metrics"]
    assert metrics["auc_roc"] == pytest.approx(roc_auc_score(y_test, scores), abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y_test, scores >= 0.5), abs=1e-6)
    assert metrics["log_loss"] == pytest.approx(log_loss(y_test, scores), abs=1e-6)
    assert metrics["n_test"] == len(X_test)

    estimator = artifact_load(version)
    assert (estimator.predict_proba(X_test)[:, 1] == scores).all()
    prediction = predictor_for(version).predict([X_test.iloc[0].to_dict()])[0]
    assert prediction.score == pytest.approx(scores[0])


def test_a_local_job_reports_each_stage_with_its_loss_and_rising_progress(live_group):
    group, champion = live_group
    job = job_create(
        preset="gradient_boosting",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters=GB,
    )

    job_run(job.pk)

    stages = [e for e in job.events.order_by("id") if "val_loss" in e.metrics]
    assert [e.metrics["trees"] for e in stages] == list(range(2, 30, 2)) + [30]
    assert stages[0].message.startswith("Stage 1/15 (Trees 2/30): train loss ")
    progress = [e.progress for e in job.events.order_by("id") if e.progress is not None]
    assert progress == sorted(progress) and progress[0] < 10 and progress[-1] >= 95


@pytest.mark.parametrize(
    ("preset", "hyperparameters", "stage_key"),
    [
        ("random_forest", {"n_estimators": 20}, "trees"),
        ("logistic_regression", {"max_iter": 50}, "iterations"),
    ],
)
def test_every_preset_trains_in_stages_to_a_new_version(
    live_group, preset, hyperparameters, stage_key
):
    group, champion = live_group
    job = job_create(
        preset=preset,
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters=hyperparameters,
    )

    job_run(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert any(stage_key in e.metrics for e in job.events.all())
    assert job.result_version.metadata["training"]["algorithm"] in (
        "RandomForestClassifier",
        "LogisticRegression",
    )


def test_retraining_an_existing_version_keeps_its_settings_and_records_the_parent(live_group):
    _, champion = live_group
    job = job_create(base_version=champion, dataset=upload(credit_csv(rows=300)))

    job_run(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    version = job.result_version
    assert version.parent == champion and version.model == champion.model
    assert version.metadata["training"]["target"] == "default"
    assert version.metadata["training"]["algorithm"] == "LogisticRegression"
    assert version.metadata["training"]["base_version"] == champion.pk


def test_cancelling_a_running_local_job_stops_it_at_the_next_stage(live_group, user):
    group, champion = live_group
    job = job_create(
        preset="gradient_boosting",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters=GB,
    )

    def cancel_at_stage_3(sender, instance: JobEvent, created: bool, **kwargs) -> None:
        if created and instance.metrics.get("stage") == 3:
            services.job_cancel(job=FineTuneJob.objects.get(pk=job.pk), actor=user)

    post_save.connect(cancel_at_stage_3, sender=JobEvent, dispatch_uid="test-cancel")
    try:
        job_run(job.pk)
    finally:
        post_save.disconnect(sender=JobEvent, dispatch_uid="test-cancel")

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.result_version is None
    assert max(e.metrics.get("stage", 0) for e in job.events.all()) == 3
    assert job.events.filter(message__startswith="Stopped at 'Stage 4/15").exists()


def test_cancelling_a_queued_job_ends_it_at_once_and_the_worker_skips_it(live_group, user):
    group, champion = live_group
    job = job_create(preset="random_forest", model=champion.model, dataset=decision_log(group))

    services.job_cancel(job=job, actor=user)
    job_run(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.started_at is None


def test_a_finished_job_cannot_be_cancelled(live_group, user):
    group, champion = live_group
    job = job_create(
        preset="random_forest",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters={"n_estimators": 5},
    )
    job_run(job.pk)
    job.refresh_from_db()

    with pytest.raises(TrainingValidationError) as caught:
        services.job_cancel(job=job, actor=user)

    assert caught.value.errors["status"] == [
        f"Job {job.pk} has already succeeded: only queued or running jobs can be cancelled."
    ]


def test_a_retry_is_a_new_job_on_the_same_snapshot(
    live_group, user, django_capture_on_commit_callbacks
):
    group, champion = live_group
    job = job_create(preset="random_forest", model=champion.model, dataset=decision_log(group))
    services.job_cancel(job=job, actor=user)

    with django_capture_on_commit_callbacks() as callbacks:
        retry = services.job_retry(job=FineTuneJob.objects.get(pk=job.pk), actor=user)

    assert len(callbacks) == 1
    assert retry.pk != job.pk and retry.retry_of == job
    assert retry.snapshot == job.snapshot and retry.hyperparameters == job.hyperparameters
    assert retry.status == JobStatus.QUEUED


def test_a_running_job_without_a_heartbeat_is_failed_with_the_reason(live_group, settings):
    settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS = 120
    group, champion = live_group
    stale = job_create(preset="random_forest", model=champion.model, dataset=decision_log(group))
    alive = job_create(preset="random_forest", model=champion.model, dataset=decision_log(group))
    now = timezone.now()
    FineTuneJob.objects.filter(pk=stale.pk).update(
        status=JobStatus.RUNNING,
        started_at=now - timedelta(minutes=10),
        heartbeat_at=now - timedelta(minutes=5),
        stage="Stage 3/10: Trees 60/200",
    )
    FineTuneJob.objects.filter(pk=alive.pk).update(
        status=JobStatus.RUNNING,
        started_at=now - timedelta(minutes=10),
        heartbeat_at=now - timedelta(seconds=30),
    )

    assert jobs_fail_stale() == 1

    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.status == JobStatus.FAILED and stale.finished_at is not None
    assert stale.error.startswith("The worker stopped reporting: no heartbeat for 120 seconds")
    assert "during 'Stage 3/10: Trees 60/200'" in stale.error
    assert alive.status == JobStatus.RUNNING


def test_a_worker_that_finds_its_job_failed_stops_without_registering(live_group):
    group, champion = live_group
    job = job_create(
        preset="gradient_boosting",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters=GB,
    )

    def fail_at_stage_2(sender, instance: JobEvent, created: bool, **kwargs) -> None:
        if created and instance.metrics.get("stage") == 2:
            services.job_fail(job_id=job.pk, reason="No heartbeat.")

    post_save.connect(fail_at_stage_2, sender=JobEvent, dispatch_uid="test-fail")
    try:
        job_run(job.pk)
    finally:
        post_save.disconnect(sender=JobEvent, dispatch_uid="test-fail")

    job.refresh_from_db()
    assert (
        job.status == JobStatus.FAILED
        and job.error == "No heartbeat."
        and job.result_version is None
    )


def test_the_new_version_joins_the_group_as_a_challenger_taking_weight_from_the_champion(
    live_group, user
):
    group, champion = live_group
    job = job_create(
        preset="random_forest",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters={"n_estimators": 10},
    )
    job_run(job.pk)
    job.refresh_from_db()

    membership = services.job_result_join_group(job=job, group=group, weight=10, actor=user)

    assert (membership.role, membership.weight) == ("challenger", 10)
    assert Membership.objects.get(group=group, model_version=champion).weight == 90


def test_a_challenger_cannot_take_more_than_the_champion_has(live_group, user):
    group, champion = live_group
    job = job_create(
        preset="random_forest",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters={"n_estimators": 5},
    )
    job_run(job.pk)
    job.refresh_from_db()
    services.job_result_join_group(job=job, group=group, weight=100, actor=user)
    other = job_create(
        preset="random_forest",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters={"n_estimators": 5},
    )
    job_run(other.pk)
    other.refresh_from_db()

    with pytest.raises(TrainingValidationError) as caught:
        services.job_result_join_group(job=other, group=group, weight=5, actor=user)

    assert caught.value.errors == {
        "weight": [
            "The challenger's share comes from the champion, which has 0%: choose at most 0."
        ]
    }
