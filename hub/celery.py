import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic tasks. django-celery-beat's DatabaseScheduler copies these into its tables at
# start, where ops staff can pause or retime them in the admin.
app.conf.beat_schedule = {
    "worker-heartbeat": {"task": "hub.worker_heartbeat", "schedule": 30.0},
}

# Training: fail jobs whose worker died (no heartbeat for TRAINING_HEARTBEAT_TIMEOUT_SECONDS),
# and follow OpenAI fine-tuning jobs (status, events, the fine-tuned model).
app.conf.beat_schedule.update(
    {
        "training-fail-stale-jobs": {"task": "training.jobs_fail_stale", "schedule": 60.0},
        "training-poll-provider-jobs": {"task": "training.jobs_poll_external", "schedule": 20.0},
    }
)

# Inference: roll up every group's closed hours for the comparison (inference/rollup.py).
# Every minute: a new hour is rolled up soon after it closes, and feedback on old rows is
# read raw for at most about a minute before its hours are rolled up again.
app.conf.beat_schedule.update(
    {
        "inference-rollups-refresh": {"task": "inference.rollups_refresh", "schedule": 60.0},
        # Batch jobs stalled for HUB_BATCH_RESUME_AFTER_SECONDS resumed (inference/batch/).
        "inference-batch-resume-stalled": {
            "task": "inference.batch_resume_stalled",
            "schedule": 60.0,
        },
        # Month partitions made ahead and retention applied (inference/partitions.py).
        "inference-partitions-maintain": {
            "task": "inference.partitions_maintain",
            "schedule": crontab(minute=20, hour="*/6"),
        },
    }
)

# Monitoring: every member's hourly window and the day so far, each hour; the closed day,
# complete, just after midnight UTC (monitoring/snapshots.py).
app.conf.beat_schedule.update(
    {
        "monitoring-snapshots-hourly": {
            "task": "monitoring.snapshots_hourly",
            "schedule": crontab(minute=5),
        },
        "monitoring-snapshots-daily": {
            "task": "monitoring.snapshots_daily",
            "schedule": crontab(minute=15, hour=0),
        },
    }
)

# Rollouts: one decision per running rollout every minute (rollouts/services.py).
app.conf.beat_schedule.update({"rollouts-tick": {"task": "rollouts.tick", "schedule": 60.0}})
