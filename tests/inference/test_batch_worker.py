"""Batch prediction on a real `celery -A hub worker` (tests/celery_worker.py): routed like
live traffic, and resumed after the worker is killed mid-job."""

import io
import json
import os

import pandas as pd
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from core.roles import roles_sync
from inference.batch import services
from inference.batch.scoring import row_request_id
from inference.models import BatchJob, BatchStatus
from registry.demo import CREDIT_FEATURES
from tests.celery_worker import WorkerProcess, _database_url, wait_for
from tests.inference.serving_factories import api_key_create, credit_rows, log_model, serving_group

pytestmark = pytest.mark.worker


@pytest.fixture
def short_visibility(monkeypatch):
    # A killed worker's unacknowledged message comes back after the broker's visibility
    # timeout (hours in production): seconds here, for the worker processes we start.
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "4")


@pytest.fixture
def batch_worker(short_visibility, celery_worker):
    roles_sync(Group, Permission)
    return celery_worker


def _frame(rows: int) -> pd.DataFrame:
    frame = pd.DataFrame(credit_rows(rows, seed=3))
    frame.insert(0, "applicant", [f"applicant-{i}" for i in range(rows)])
    return frame


def _start(client, setup, key, frame: pd.DataFrame, **fields) -> str:
    upload = SimpleUploadedFile("portfolio.csv", frame.to_csv(index=False).encode())
    response = client.post(
        f"/api/v1/groups/{setup.group.slug}/batches/",
        {"file": upload, **fields},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def _finished(job_id: str) -> BatchJob | None:
    job = BatchJob.objects.get(pk=job_id)
    return None if job.is_active else job


def _result(job: BatchJob) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(b"".join(services.result_stream(job))))


def _assert_same_as_online(client, setup, key, frame, result) -> None:
    """For a sample of keys, the online endpoint with routing_key = that key answers with
    the same member and the same score."""
    for i in [0, 1, 2, 3, 42, 999, 1000, 2500, 4321, 4999]:
        row = {name: frame.loc[i, name] for name in CREDIT_FEATURES}
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        online = client.post(
            setup.predict_url,
            data=json.dumps({"inputs": row, "routing_key": frame.loc[i, "applicant"]}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        ).json()
        assert online["model"]["version"] == str(result.loc[i, "model_version"])
        assert online["role"] == result.loc[i, "role"]
        assert online["score"] == pytest.approx(result.loc[i, "score"], abs=1e-9)


def test_a_5000_row_file_comes_back_in_order_routed_and_scored_as_the_online_endpoint(
    batch_worker, client, settings
):
    settings.HUB_BATCH_CHUNK_ROWS = 1000
    setup = serving_group(name="Batch Worker Credit", weights=(50, 50))
    _, key = api_key_create(
        name="portfolio", groups=[setup.group], scopes=("manage", "read", "predict")
    )
    frame = _frame(5000)
    broken = list(range(7, 5000, 500))  # 10 rows
    frame[CREDIT_FEATURES[1]] = frame[CREDIT_FEATURES[1]].astype(object)
    for i in broken:
        frame.loc[i, CREDIT_FEATURES[1]] = "n/a"

    job_id = _start(client, setup, key, frame, key_column="applicant")
    job = wait_for(lambda: _finished(job_id), timeout=180, message=batch_worker.log())
    assert job.status == BatchStatus.SUCCEEDED, job.error + batch_worker.log()
    assert (job.rows_total, job.rows_ok, job.rows_failed) == (5000, 4990, 10)

    result = _result(job)
    assert result["row"].tolist() == list(range(5000))
    assert result["applicant"].tolist() == frame["applicant"].tolist()
    failed = result[result["error"].notna()]
    assert failed.index.tolist() == broken
    assert failed["error"].str.startswith(f"{CREDIT_FEATURES[1]}: 'n/a' is not a number").all()
    assert failed["score"].isna().all()
    ok = result[result["error"].isna()]
    assert ok["score"].between(0, 1).all() and set(ok["role"]) == {"champion", "challenger"}

    _assert_same_as_online(client, setup, key, frame, result)


def test_a_job_whose_worker_is_killed_halfway_finishes_after_a_restart_with_every_row_once(
    batch_worker, client, settings
):
    settings.HUB_BATCH_CHUNK_ROWS = 250
    setup = serving_group(name="Batch Killed Credit", shadow=True)
    _, key = api_key_create(
        name="portfolio", groups=[setup.group], scopes=("manage", "read", "predict")
    )
    rows = 10_000
    job_id = _start(client, setup, key, _frame(rows))
    wait_for(
        lambda: BatchJob.objects.get(pk=job_id).rows_done > 0,
        timeout=120,
        interval=0.02,
        message=batch_worker.log(),
    )
    batch_worker.kill()
    killed_at = BatchJob.objects.get(pk=job_id)
    assert 0 < killed_at.rows_done < rows and killed_at.status == BatchStatus.RUNNING

    # The same environment the fixture gave the first worker (tests/celery_worker.py).
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "HUB_VAR_DIR": str(django_settings.VAR_DIR),
        "DJANGO_SETTINGS_MODULE": "hub.settings",
    }
    restarted = WorkerProcess(env)
    try:
        restarted.wait_ready()
        if not django_settings.REDIS_URL:
            # The embedded filesystem broker has no redelivery: resume queues what is left.
            services.batch_resume(job=BatchJob.objects.get(pk=job_id))
        job = wait_for(lambda: _finished(job_id), timeout=240, message=restarted.log())
    finally:
        restarted.stop()
    assert job.status == BatchStatus.SUCCEEDED, job.error + restarted.log()
    assert (job.rows_done, job.rows_ok, job.rows_failed) == (rows, rows, 0)

    result = _result(job)
    assert result["row"].tolist() == list(range(rows))
    model = log_model(setup.group)
    logged = model.all_rows.filter(batch_id=job.pk)
    routed = logged.exclude(role="shadow")
    assert routed.count() == rows and logged.filter(role="shadow").count() == rows
    assert set(routed.values_list("request_id", flat=True)) == {
        row_request_id(job.pk, i) for i in range(rows)
    }
