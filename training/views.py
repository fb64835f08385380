from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from training.models import FineTuneJob


@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    return render(request, "training/job_list.html", {"jobs": FineTuneJob.objects.all()[:50]})
