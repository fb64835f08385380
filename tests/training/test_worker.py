"""A real `celery -A hub worker` process trains jobs (tests/celery_worker.py)."""

import time

import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from groups.models import ModelGroup
from inference.tables import inference_table_drop, table_exists
from registry.artifacts import artifact_load
from registry.demo import CREDIT_FEATURES
from tests.celery_worker import wait_for
from tests.training.factories import credit_group, decision_log, log_decisions
from training.models import FineTuneJob, JobStatus
from training.services import job_create
from training.tasks import jobs_fail_stale

pytestmark = pytest.mark.worker


@pytest.fixture
def live_group(transactional_db):
    group, champion = credit_group(name="Worker Credit Scoring")
    log_decisions(group, champion, rows=2000)
    yield group, champion
    # The per-group table is not one of Django's models: a flush would leave it behind.
    for table in ModelGroup.objects.values_list("table_name", flat=True):
        if table and table_exists(table):
            inference_table_drop(table)


def test_a_real_worker_trains_a_job_from_the_decision_log_end_to_end(celery_worker, live_group):
    group, champion = live_group
    hyperparameters = {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.1}
    job = job_create(
        preset="gradient_boosting",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters=hyperparameters,
    )
    observed = []

    def finished() -> bool:
        current = FineTuneJob.objects.get(pk=job.pk)
        observed.append(current.progress)
        return current.status not in (JobStatus.QUEUED, JobStatus.RUNNING)

    wait_for(finished, timeout=120, message="the job did not finish:\n" + celery_worker.log())

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error + celery_worker.log()
    assert observed == sorted(observed) and observed[-1] == 100
    progress = [e.progress for e in job.events.order_by("id") if e.progress is not None]
    assert progress == sorted(progress) and len(set(progress)) > 10
    assert job.events.filter(metrics__has_key="val_loss").count() == 20
    assert "training.job_run" in celery_worker.log()

    version = job.result_version
    assert version.model == champion.model and version.version == "1.3"
    with job.snapshot.file.open("rb") as fh:
        frame = pd.read_csv(fh)
    X_train, X_test, y_train, y_test = train_test_split(
        frame[CREDIT_FEATURES],
        frame["outcome"],
        test_size=0.2,
        random_state=42,
        stratify=frame["outcome"],
    )
    reference = GradientBoostingClassifier(random_state=42, **hyperparameters).fit(X_train, y_train)
    expected_auc = roc_auc_score(y_test, reference.predict_proba(X_test)[:, 1])
    assert version.metadata["metrics"]["auc_roc"] == pytest.approx(expected_auc, abs=1e-6)
    estimator = artifact_load(version)
    assert estimator.predict(X_test.head(5)).tolist() == reference.predict(X_test.head(5)).tolist()
    # The worker also made the version's monitoring reference from the hold-out.
    monitoring = version.monitoring_reference
    assert (monitoring.source, monitoring.rows) == ("training", len(X_test))
    assert monitoring.features == CREDIT_FEATURES
    assert monitoring.sample["income"] == pytest.approx(X_test["income"].tolist())


def test_killing_the_worker_mid_job_leads_to_the_job_being_failed_with_a_reason(
    celery_worker, live_group, settings
):
    group, champion = live_group
    # Big enough to still be training when the worker dies (it never gets to finish).
    job = job_create(
        preset="gradient_boosting",
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters={"n_estimators": 2000, "max_depth": 6},
    )
    wait_for(
        lambda: (
            FineTuneJob.objects.get(pk=job.pk).events.filter(metrics__has_key="val_loss").exists()
        ),
        timeout=120,
        message="the job never reached its first stage:\n" + celery_worker.log(),
    )

    celery_worker.kill()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # nobody knows yet

    settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS = 1
    time.sleep(1.5)  # let the last heartbeat grow older than the timeout
    assert jobs_fail_stale() == 1

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.result_version is None
    assert job.error.startswith("The worker stopped reporting: no heartbeat for 1 seconds")
    assert "It was probably killed or ran out of memory. Retry the job." in job.error
