from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.permissions import require
from providers.selectors import fine_tuning_by_kind, providers_for_display

PAGE_SIZE = 25


@require_GET
def provider_list(request: HttpRequest) -> HttpResponse:
    # Every role reads the page; it shows health and models, never key material.
    require(request.user, "providers.view_provider")
    page = Paginator(providers_for_display(active_only=True), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "fine_tuning": fine_tuning_by_kind()}
    template = "providers/provider_list.html"
    if request.htmx:
        template += "#provider_table"
    return render(request, template, context)
