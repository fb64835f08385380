from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from providers.models import Provider


@require_GET
def provider_list(request: HttpRequest) -> HttpResponse:
    return render(request, "providers/provider_list.html", {"providers": Provider.objects.all()})
