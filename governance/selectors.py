"""Reads the governance pages and API share: the objects a person or key may see."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from core.permissions import visible
from governance.models import ReportJob
from groups.models import ModelGroup


def group_get(user, slug: str) -> ModelGroup:
    return get_object_or_404(visible(user, ModelGroup.objects.all(), group_field="slug"), slug=slug)


def report_job_get(user, job_id: int) -> ReportJob:
    jobs = ReportJob.objects.select_related("model_version__model", "model_version__model__team")
    return get_object_or_404(
        visible(user, jobs, team_field="model_version__model__team"), pk=job_id
    )
