from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from registry.models import RegisteredModel


@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(RegisteredModel.objects.all(), 25).get_page(request.GET.get("page"))
    return render(request, "registry/model_list.html", {"page": page})
