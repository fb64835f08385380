"""Using a job's result: its new version joins a group as a challenger."""

from typing import Any

from django.db import transaction

from groups.models import Membership, ModelGroup, Role
from groups.services import group_set_traffic, membership_add
from training.models import FineTuneJob, JobStatus
from training.services.common import TrainingValidationError, person


def _check_weight(weight: object, champion: Membership | None) -> None:
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise TrainingValidationError(
            {"weight": ["The initial weight is a whole number from 0 to 100."]}
        )
    available = champion.weight if champion else 0
    if weight and available < weight:
        raise TrainingValidationError(
            {
                "weight": [
                    f"The challenger's share comes from the champion, which has {available}%: choose at most {available}."
                ]
            }
        )


@transaction.atomic
def job_result_join_group(
    *, job: FineTuneJob, group: ModelGroup, weight: int, actor: Any
) -> Membership:
    """The new version joins a group as a challenger taking `weight`% of the champion's traffic."""
    version = job.result_version
    if job.status != JobStatus.SUCCEEDED or version is None:
        raise TrainingValidationError({"job": [f"Job {job.pk} has no new version yet."]})
    champion = group.memberships.filter(role=Role.CHAMPION).first()
    _check_weight(weight, champion)
    actor = person(actor)
    # The group services' errors (GroupValidationError, a ServiceError) reach the caller as they are.
    membership = membership_add(
        group=group,
        model_version=version,
        role=Role.CHALLENGER,
        weight=0,
        actor=actor,
        reason=f"Trained by fine-tuning job {job.pk}.",
    )
    if weight:
        group_set_traffic(
            group=group,
            weights={champion.model_version_id: champion.weight - weight, version.pk: weight},
            actor=actor,
            reason=f"Challenger {version} from job {job.pk} starts at {weight}%.",
        )
    membership.refresh_from_db()
    return membership
