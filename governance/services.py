"""Governance writes: the inventory fields' edits go through registry's service; here the
validation report's jobs (built on Celery for versions serving large groups)."""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from governance.models import ReportJob, ReportStatus
from governance.reports import report_build, report_pdf, report_served_rows
from registry.models import ModelVersion


def report_is_large(version: ModelVersion) -> bool:
    limit = settings.HUB_REPORT_INLINE_MAX_ROWS
    return report_served_rows(version, limit=limit) > limit


@transaction.atomic
def report_job_start(*, version: ModelVersion, user: object) -> ReportJob:
    """Queue the report's build (a running one for the same version is reused)."""
    running = ReportJob.objects.filter(
        model_version=version, status__in=(ReportStatus.QUEUED, ReportStatus.RUNNING)
    ).first()
    if running is not None:
        return running
    job = ReportJob.objects.create(
        model_version=version, requested_by=user if getattr(user, "pk", None) else None
    )
    from governance import tasks

    transaction.on_commit(lambda: tasks.report_job_run.delay(job.pk))
    return job


def _progress(job: ReportJob):
    def tell(percent: int, step: str) -> None:
        ReportJob.objects.filter(pk=job.pk).update(progress=percent, step=step[:200])

    return tell


def report_job_run(*, job_id: int) -> ReportJob:
    """Build the report of a queued job and keep its PDF; a failure is kept on the job."""
    job = ReportJob.objects.select_related("model_version__model").get(pk=job_id)
    if job.is_finished:
        raise Conflict(f"This report job is already {job.status}.")
    ReportJob.objects.filter(pk=job.pk).update(status=ReportStatus.RUNNING, step="Starting")
    try:
        report = report_build(version=job.model_version, progress=_progress(job))
        _progress(job)(95, "Rendering the PDF")
        pdf = report_pdf(report)
    except Exception as error:
        ReportJob.objects.filter(pk=job.pk).update(
            status=ReportStatus.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    job.refresh_from_db()
    name = f"{job.model_version.model.slug}-{job.model_version.version}-report.pdf"
    job.pdf.save(name, ContentFile(pdf), save=False)
    job.status, job.progress, job.step = ReportStatus.DONE, 100, "Done"
    job.finished_at = timezone.now()
    job.save(update_fields=["pdf", "status", "progress", "step", "finished_at"])
    return job
