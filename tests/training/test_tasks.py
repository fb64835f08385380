from hub.celery import app
from training import tasks


def test_beat_fails_stale_jobs_and_follows_provider_jobs_periodically():
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}

    assert schedule["training.jobs_fail_stale"] == 60.0
    assert schedule["training.jobs_poll_external"] == 20.0
    assert {"training.job_run", "training.jobs_fail_stale", "training.jobs_poll_external"} <= set(
        app.tasks
    )


def test_the_training_task_owns_its_retries_and_acknowledges_late():
    assert tasks.job_run.max_retries == 3
    assert tasks.job_run.acks_late is True
