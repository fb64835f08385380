"""Using a job's result: the new version's monitoring reference (its hold-out rows), and
the new version joining a group as a challenger."""

import logging
from typing import Any

import pandas as pd
from django.db import transaction

from groups.models import Membership, ModelGroup, Role
from groups.services import group_set_traffic, membership_add
from monitoring.models import ReferenceSource
from monitoring.reference import reference_from_frame
from registry.models import ModelVersion
from training.models import EventLevel, FineTuneJob, JobStatus
from training.services.common import TrainingValidationError, event_add, person

logger = logging.getLogger(__name__)


def job_result_reference(*, job: FineTuneJob, version: ModelVersion, holdout: Any) -> None:
    """The new version's monitoring reference: the hold-out rows it was evaluated on (a
    capped, seeded sample with exact summaries) and its own scores on them, so drift is
    measured against data the model never saw in training.

    A reference that cannot be made does not fail the job (the version is good): the job's
    log says why, and one can still be uploaded or taken from live traffic."""
    if not isinstance(holdout, pd.DataFrame) or holdout.empty:
        return
    try:
        reference = reference_from_frame(
            model_version=version,
            frame=holdout.reset_index(drop=True),
            source=ReferenceSource.TRAINING,
            description=f"Hold-out of job {job.pk} ({len(holdout)} rows)",
        )
    except Exception as exc:  # its own savepoint rolled back; the job goes on
        logger.warning("job %s: no monitoring reference for %s", job.pk, version, exc_info=True)
        event_add(
            job,
            f"No monitoring reference for {version}: {exc}. Upload one on its Monitoring page.",
            level=EventLevel.WARNING,
        )
        return
    scored = "with its scores" if reference.sample_scores else "without scores"
    event_add(
        job,
        f"Monitoring reference of {version}: the {reference.rows} hold-out rows "
        f"({len(reference.features)} features, {scored}).",
    )


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
