from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.training.factories import (
    FineTuneJobFactory,
    JobEventFactory,
    credit_csv,
    credit_group,
    log_decisions,
)
from training.models import FineTuneJob, JobStatus

CHANGELIST = "/admin/training/finetunejob/"


@pytest.fixture
def live_group(db):
    group, champion = credit_group()
    log_decisions(group, champion, rows=200)
    return group, champion


def test_the_admin_lists_jobs_with_status_filters(staff_client):
    FineTuneJobFactory(status=JobStatus.RUNNING, stage="Stage 2/10")
    FineTuneJobFactory(status=JobStatus.FAILED)

    response = staff_client.get(CHANGELIST, {"status__exact": "running"})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert "Stage 2/10" in response.content.decode()


def test_a_job_in_the_admin_shows_its_event_log(staff_client):
    job = FineTuneJobFactory(status=JobStatus.RUNNING)
    JobEventFactory(job=job, message="Stage 1/10 (Trees 10/100): val loss 0.41.")

    response = staff_client.get(f"{CHANGELIST}{job.pk}/change/")

    assert "Stage 1/10 (Trees 10/100): val loss 0.41." in response.content.decode()


def test_the_admin_cancel_action_cancels_queued_jobs_and_warns_about_finished_ones(staff_client):
    queued = FineTuneJobFactory(status=JobStatus.QUEUED)
    done = FineTuneJobFactory(status=JobStatus.SUCCEEDED)

    response = staff_client.post(
        CHANGELIST, {"action": "cancel_jobs", "_selected_action": [queued.pk, done.pk]}, follow=True
    )

    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    page = response.content.decode()
    assert "1 job(s) cancelled." in page and "only queued or running jobs can be cancelled" in page


def test_the_admin_retry_action_queues_a_new_job_on_the_same_snapshot(staff_client, live_group):
    from tests.training.factories import decision_log
    from training.services import job_cancel, job_create

    group, champion = live_group
    job = job_create(preset="random_forest", model=champion.model, dataset=decision_log(group))
    job_cancel(job=job, actor=None)

    staff_client.post(CHANGELIST, {"action": "retry_jobs", "_selected_action": [job.pk]})

    retry = FineTuneJob.objects.get(retry_of=job)
    assert retry.status == JobStatus.QUEUED and retry.snapshot_id == job.snapshot_id


def test_train_start_queues_a_job_from_a_groups_decision_log(live_group):
    group, champion = live_group
    out = StringIO()

    call_command(
        "train_start",
        "--preset",
        "gradient_boosting",
        "--group",
        group.slug,
        "--set",
        "n_estimators=30",
        stdout=out,
    )

    job = FineTuneJob.objects.get()
    assert job.model == champion.model and job.hyperparameters["n_estimators"] == 30
    assert f"Job {job.pk} queued" in out.getvalue()


def test_train_start_lists_every_problem_and_queues_nothing(live_group):
    group, _ = live_group

    with pytest.raises(CommandError) as caught:
        call_command(
            "train_start",
            "--preset",
            "random_forest",
            "--group",
            group.slug,
            "--set",
            "n_estimators=-1",
            "--set",
            "max_depth=deep",
        )

    assert "hyperparameters.n_estimators: must be at least 1, got -1." in str(caught.value)
    assert "hyperparameters.max_depth: must be a whole number, got 'deep'." in str(caught.value)
    assert FineTuneJob.objects.count() == 0


def test_train_start_takes_a_csv_file_for_a_version_to_retrain(live_group, tmp_path):
    _, champion = live_group
    path = tmp_path / "applicants.csv"
    path.write_bytes(credit_csv(rows=150).read())

    call_command(
        "train_start",
        "--base-version",
        str(champion.pk),
        "--file",
        str(path),
        "--label-column",
        "default",
        stdout=StringIO(),
    )

    job = FineTuneJob.objects.get()
    assert (job.base_version, job.snapshot.row_count) == (champion, 150)
    assert job.dataset.name == "applicants.csv"


def test_train_status_shows_a_jobs_progress_and_events(db):
    job = FineTuneJobFactory(status=JobStatus.RUNNING, progress=45, stage="Stage 9/20")
    JobEventFactory(job=job, message="Stage 9/20 (Trees 45/100): val loss 0.4.")
    out = StringIO()

    call_command("train_status", str(job.pk), stdout=out)
    call_command("train_status", stdout=out)

    text = out.getvalue()
    assert f"#{job.pk} running    45% Gradient boosting" in text
    assert "Stage 9/20 (Trees 45/100): val loss 0.4." in text
