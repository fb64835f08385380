import json

import pytest

from tests.training.factories import (
    FineTuneJobFactory,
    JobEventFactory,
    credit_csv,
    credit_group,
    log_decisions,
)
from training.models import FineTuneJob, JobStatus

JOBS = "/api/v1/training/jobs/"


@pytest.fixture
def live_group(db):
    group, champion = credit_group()
    log_decisions(group, champion, rows=300)
    return group, champion


def test_starting_a_job_from_a_decision_log_answers_with_the_queued_job(user_client, live_group):
    group, champion = live_group

    response = user_client.post(
        JOBS,
        {
            "preset": "gradient_boosting",
            "source": "decision_log",
            "group": group.slug,
            "hyperparameters": {"n_estimators": 40},
        },
        content_type="application/json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["model"] == champion.model.slug
    assert body["hyperparameters"]["n_estimators"] == 40
    assert body["dataset"]["rows"] == 300 and len(body["dataset"]["sha256"]) == 64
    assert body["events"][0]["message"].startswith(
        "Queued: Gradient boosting on Live Credit Scoring decision log"
    )
    assert FineTuneJob.objects.get().pk == body["id"]


def test_bad_hyperparameters_answer_400_naming_the_field_and_queue_nothing(user_client, live_group):
    group, _ = live_group

    response = user_client.post(
        JOBS,
        {
            "preset": "random_forest",
            "source": "decision_log",
            "group": group.slug,
            "hyperparameters": {"n_estimators": 0, "colour": "red"},
        },
        content_type="application/json",
    )

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["hyperparameters.n_estimators"] == ["must be at least 1, got 0."]
    assert errors["hyperparameters.colour"][0].startswith("is not a hyperparameter of this trainer")
    assert FineTuneJob.objects.count() == 0


def test_a_file_is_uploaded_as_multipart_with_hyperparameters_as_json(user_client, live_group):
    _, champion = live_group

    response = user_client.post(
        JOBS,
        {
            "preset": "logistic_regression",
            "model": champion.model.slug,
            "source": "upload",
            "file": credit_csv(rows=120),
            "label_column": "default",
            "hyperparameters": json.dumps({"C": 0.5}),
        },
    )

    assert response.status_code == 201, response.json()
    assert response.json()["dataset"] == {
        "name": "applicants.csv",
        "source": "upload",
        "rows": 120,
        "columns": response.json()["dataset"]["columns"],
        "sha256": response.json()["dataset"]["sha256"],
    }
    assert response.json()["hyperparameters"]["C"] == 0.5


def test_the_list_filters_by_status_and_paginates(user_client):
    FineTuneJobFactory.create_batch(3, status=JobStatus.RUNNING)
    FineTuneJobFactory(status=JobStatus.FAILED)

    running = user_client.get(JOBS, {"status": "running"}).json()
    bad = user_client.get(JOBS, {"status": "exploded"})

    assert running["count"] == 3 and {j["status"] for j in running["results"]} == {"running"}
    assert bad.status_code == 400 and "status" in bad.json()["errors"]


def test_a_job_reads_with_its_events_oldest_first(user_client):
    job = FineTuneJobFactory(status=JobStatus.RUNNING, progress=35)
    JobEventFactory.create_batch(3, job=job)

    body = user_client.get(f"{JOBS}{job.pk}/").json()

    assert body["progress"] == 35 and len(body["events"]) == 3
    assert [e["metrics"]["stage"] for e in body["events"]] == sorted(
        e["metrics"]["stage"] for e in body["events"]
    )


def test_cancel_ends_a_queued_job_and_refuses_a_finished_one(user_client):
    queued = FineTuneJobFactory(status=JobStatus.QUEUED)
    done = FineTuneJobFactory(status=JobStatus.SUCCEEDED)

    ok = user_client.post(f"{JOBS}{queued.pk}/cancel")
    refused = user_client.post(f"{JOBS}{done.pk}/cancel/")

    assert ok.status_code == 200 and ok.json()["status"] == "cancelled"
    assert refused.status_code == 400
    assert refused.json()["errors"]["status"] == [
        f"Job {done.pk} has already succeeded: only queued or running jobs can be cancelled."
    ]


def test_the_api_needs_a_login(client, db):
    assert client.get(JOBS).status_code in (401, 403)


def test_the_decision_log_can_be_narrowed_to_one_serving_version(user_client, live_group):
    group, champion = live_group
    log_decisions(group, champion, rows=50, seed=11, role="shadow")

    response = user_client.post(
        JOBS,
        {
            "preset": "random_forest",
            "source": "decision_log",
            "group": group.slug,
            "role": "shadow",
            "model_version": champion.pk,
        },
        content_type="application/json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["dataset"]["rows"] == 50
