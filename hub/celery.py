import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic tasks. django-celery-beat's DatabaseScheduler copies these into its tables at
# start, where ops staff can pause or retime them in the admin.
app.conf.beat_schedule = {
    "worker-heartbeat": {"task": "hub.worker_heartbeat", "schedule": 30.0},
}
