"""Every write of the training app, by topic: creating jobs (creation), running and
cancelling them and failing those whose worker died (running), following provider jobs
(provider_jobs), and using a job's new version (results).

Callers import from here: `from training import services; services.job_create(...)`.
"""

from training.services.common import TrainingValidationError
from training.services.creation import DatasetSpec, job_create, job_retry
from training.services.provider_jobs import job_poll_external, jobs_poll_external
from training.services.results import job_result_join_group
from training.services.running import (
    job_cancel,
    job_cancel_submitted,
    job_execute,
    job_fail,
    job_requeue,
    jobs_fail_stale,
)
from training.services.runs import DeployTarget, RunDataset, run_create, run_deploy_target

__all__ = [
    "DatasetSpec",
    "DeployTarget",
    "RunDataset",
    "TrainingValidationError",
    "job_cancel",
    "job_cancel_submitted",
    "job_create",
    "job_execute",
    "job_fail",
    "job_poll_external",
    "job_requeue",
    "job_result_join_group",
    "job_retry",
    "jobs_fail_stale",
    "jobs_poll_external",
    "run_create",
    "run_deploy_target",
]
