import json

import pytest

from registry.models import Flavor, VersionSource, VersionStatus
from tests.training.factories import credit_csv, external_version, upload
from training import services
from training.models import BaseKind, JobStatus
from training.services import TrainingValidationError, job_create
from training.tasks import job_run, jobs_poll_external
from training.trainers.base import TransientTrainingError


@pytest.fixture
def openai_version(make_provider):
    return external_version(make_provider("openai"))


def _submitted(version, **hyperparameters):
    job = job_create(
        base_version=version, dataset=upload(credit_csv(rows=40)), hyperparameters=hyperparameters
    )
    job_run(job.pk)
    job.refresh_from_db()
    return job


def test_the_dataset_is_uploaded_as_chat_jsonl_written_with_the_prompt_template(
    openai_version, fake_provider_server
):
    job = _submitted(openai_version, n_epochs=3, suffix="credit")

    assert job.base_kind == BaseKind.EXTERNAL
    assert job.status == JobStatus.RUNNING, job.error
    uploaded = fake_provider_server.files[job.external_file_id]
    assert uploaded["purpose"] == "fine-tune"
    lines = [json.loads(line) for line in uploaded["content"].decode().splitlines()]
    assert len(lines) == 40
    user, assistant = lines[0]["messages"]
    assert user["role"] == "user" and user["content"].startswith("Credit applicant: income ")
    assert user["content"].endswith('Answer with JSON {"label": 0 or 1}.')
    assert assistant["role"] == "assistant" and json.loads(assistant["content"])["label"] in (0, 1)


def test_hyperparameters_go_under_method_and_empty_ones_are_left_to_the_provider(
    openai_version, fake_provider_server
):
    job = _submitted(openai_version, n_epochs=3, suffix="credit")

    (create,) = fake_provider_server.requests_to("/fine_tuning/jobs")
    body = create["json"]
    assert body["model"] == "gpt-4o-mini-2024-07-18"
    assert body["training_file"] == job.external_file_id
    assert body["method"] == {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 3}},
    }
    assert body["suffix"] == "credit"
    assert job.external_job_id.startswith("ftjob")


def test_the_beat_task_mirrors_the_provider_job_until_the_fine_tuned_model_is_registered(
    openai_version,
):
    job = _submitted(openai_version)
    seen = [job.external_status]

    for _ in range(5):
        jobs_poll_external()
        job.refresh_from_db()
        seen.append(job.external_status)
        if job.status != JobStatus.RUNNING:
            break

    assert seen == ["validating_files", "queued", "running", "succeeded"]
    assert job.status == JobStatus.SUCCEEDED and job.progress == 100
    mirrored = job.events.exclude(external_id="")
    assert mirrored.filter(message__startswith="Step 3/3: training loss").exists()
    assert mirrored.filter(metrics__train_loss=0.5).exists()
    assert mirrored.count() == len(set(mirrored.values_list("external_id", flat=True)))
    version = job.result_version
    assert version.flavor == Flavor.EXTERNAL and version.status == VersionStatus.STAGING
    assert version.provider_model.startswith("ft:gpt-4o-mini-2024-07-18:fake-org:")
    assert (version.parent, version.source) == (openai_version, VersionSource.TRAINING)
    assert version.prompt_template == openai_version.prompt_template
    assert version.metadata["metrics"] == {"train_loss": 0.5}


def test_a_failed_provider_job_shows_the_providers_error(openai_version, fake_provider_server):
    fake_provider_server.fine_tune_outcome = "failed"
    job = _submitted(openai_version)

    for _ in range(4):
        jobs_poll_external()
    job.refresh_from_db()

    assert job.status == JobStatus.FAILED and job.result_version is None
    assert job.error == (
        "The provider failed the job: The training file has too few examples: at least 10 are required."
    )
    assert job.events.filter(level="error").exists()


def test_cancelling_a_provider_job_calls_the_providers_cancel(
    openai_version, fake_provider_server, user
):
    job = _submitted(openai_version)

    services.job_cancel(job=job, actor=user)

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    cancels = [
        r
        for r in fake_provider_server.requests
        if r["path"].endswith(f"/{job.external_job_id}/cancel")
    ]
    assert len(cancels) == 1 and cancels[0]["method"] == "POST"
    assert fake_provider_server.jobs[job.external_job_id]["status"] == "cancelled"
    jobs_poll_external()  # a cancelled job is not polled any more
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_a_provider_outage_at_submission_requeues_the_job_for_a_retry(
    openai_version, fake_provider_server, settings
):
    settings.PROVIDER_MAX_RETRIES = 0  # the SDK's own retries would hide the outage
    job = job_create(base_version=openai_version, dataset=upload(credit_csv(rows=40)))
    fake_provider_server.fail_next("/files", status=503)

    # Called directly (not by a worker), Celery's retry re-raises the error it retries on.
    with pytest.raises(TransientTrainingError, match="HTTP 503"):
        job_run(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.stage == "Retrying (attempt 2)"
    assert job.events.filter(
        level="warning", message__startswith="Temporary problem, retrying"
    ).exists()


def test_a_provider_without_fine_tuning_is_refused_with_the_reason(make_provider):
    version = external_version(make_provider("anthropic"), model_name="Credit Scoring Claude")

    with pytest.raises(TrainingValidationError) as caught:
        job_create(base_version=version, dataset=upload(credit_csv(rows=40)))

    assert (
        "only OpenAI offers fine-tuning through its public API (Anthropic and Gemini do not)"
        in (caught.value.errors["base"][0])
    )


def test_a_provider_job_that_cannot_be_followed_fails_with_the_providers_answer(
    openai_version, fake_provider_server, settings
):
    settings.PROVIDER_MAX_RETRIES = 0
    job = _submitted(openai_version)
    fake_provider_server.fail_next(f"/fine_tuning/jobs/{job.external_job_id}", status=404)

    jobs_poll_external()

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith(f"The provider job {job.external_job_id} cannot be followed: ")
    assert "HTTP 404" in job.error


def test_a_provider_outage_while_polling_keeps_the_job_running_for_the_next_beat(
    openai_version, fake_provider_server, settings
):
    settings.PROVIDER_MAX_RETRIES = 0
    job = _submitted(openai_version)
    fake_provider_server.fail_next(f"/fine_tuning/jobs/{job.external_job_id}", status=503)

    jobs_poll_external()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING

    jobs_poll_external()
    job.refresh_from_db()
    assert job.external_status == "queued"
