from datetime import timedelta

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found, server_error

from core.api import json_error
from hub.dashboard import dashboard_counts, worker_last_seen
from hub.health import component_status


@require_GET
@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """ok / not ok per component for load balancers; errors and latencies for staff only."""
    components = component_status()
    ok = all(c["ok"] for c in components.values())
    failing = [name for name, c in components.items() if not c["ok"]]
    if not request.user.is_staff:
        components = {name: {"ok": c["ok"]} for name, c in components.items()}
    body = {"status": "ok" if ok else "error", "failing": failing, "components": components}
    return JsonResponse(body, status=200 if ok else 503)


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A 404 for an /api/ URL is JSON like every API error; pages keep Django's page."""
    if request.path_info.startswith("/api/"):
        return json_error(request, 404, f"No API endpoint at {request.path_info}.")
    return page_not_found(request, exception)


def api_server_error(request: HttpRequest) -> HttpResponse:
    """A 500 outside DRF's handler (middleware, URL resolution): JSON under /api/."""
    if request.path_info.startswith("/api/"):
        return json_error(request, 500, "Internal server error.")
    return server_error(request)


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(hours=24)
    context = {"counts": dashboard_counts(since=since), "worker": worker_last_seen()}
    return render(request, "hub/dashboard.html", context)
