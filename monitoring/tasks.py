"""Celery tasks: each calls one service."""

from celery import shared_task

from monitoring.models import Period
from monitoring.notify import WebhookDeliveryFailed, delivery_attempt, delivery_give_up
from monitoring.snapshots import groups_run

WEBHOOK_MAX_RETRIES = 6
WEBHOOK_BACKOFF_SECONDS = 2


@shared_task(name="monitoring.snapshots_hourly", ignore_result=True)
def snapshots_hourly() -> int:
    """Beat, every hour: the hourly window and the day so far, for every member."""
    return groups_run(period=Period.HOUR) + groups_run(period=Period.DAY)


@shared_task(name="monitoring.snapshots_daily", ignore_result=True)
def snapshots_daily() -> int:
    """Beat, just after midnight UTC: the day that just closed, complete."""
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.snapshots import window_end

    return groups_run(
        period=Period.DAY, end=window_end(Period.DAY, timezone.now() - timedelta(hours=1))
    )


@shared_task(
    name="monitoring.webhook_deliver",
    bind=True,
    ignore_result=True,
    max_retries=WEBHOOK_MAX_RETRIES,
)
def webhook_deliver(self, delivery_id: int) -> None:
    """POST one delivery; retried with exponential backoff (2, 4, 8 … s), then failed."""
    try:
        delivery_attempt(delivery_id=delivery_id)
    except WebhookDeliveryFailed as exc:
        if self.request.retries >= self.max_retries:
            delivery_give_up(delivery_id=delivery_id)
            return
        raise self.retry(
            exc=exc, countdown=WEBHOOK_BACKOFF_SECONDS * 2**self.request.retries
        ) from None
