from celery import shared_task

from rollouts.services import rollouts_tick


@shared_task(name="rollouts.tick")
def rollouts_tick_task() -> dict[int, str]:
    """Beat, every minute: one decision for every running rollout."""
    return rollouts_tick()
