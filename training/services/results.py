"""Using a job's result: its new version joins a group as a challenger."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from groups.models import Membership, ModelGroup, Role
from groups.services import GroupValidationError, group_set_traffic, membership_add
from training.models import FineTuneJob, JobStatus
from training.services.common import TrainingValidationError


@transaction.atomic
def job_result_join_group(
    *, job: FineTuneJob, group: ModelGroup, weight: int, actor: AbstractBaseUser | None
) -> Membership:
    """The new version joins a group as a challenger taking `weight`% of the champion's traffic."""
    version = job.result_version
    if job.status != JobStatus.SUCCEEDED or version is None:
        raise TrainingValidationError({"job": [f"Job {job.pk} has no new version yet."]})
    champion = group.memberships.filter(role=Role.CHAMPION).first()
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise TrainingValidationError(
            {"weight": ["The initial weight is a whole number from 0 to 100."]}
        )
    if weight and (champion is None or champion.weight < weight):
        available = champion.weight if champion else 0
        raise TrainingValidationError(
            {
                "weight": [
                    f"The challenger's share comes from the champion, which has {available}%: choose at most {available}."
                ]
            }
        )
    try:
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
    except GroupValidationError as exc:
        raise TrainingValidationError(exc.errors) from exc
    membership.refresh_from_db()
    return membership
