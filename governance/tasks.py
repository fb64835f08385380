"""Celery tasks: each calls one service."""

from celery import shared_task

from governance import services


@shared_task(name="governance.report_job_run", ignore_result=True)
def report_job_run(job_id: int) -> None:
    services.report_job_run(job_id=job_id)
