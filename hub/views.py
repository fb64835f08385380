from datetime import timedelta

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from hub.dashboard import dashboard_counts, worker_last_seen
from hub.health import component_status


@require_GET
@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    components = component_status()
    ok = all(c["ok"] for c in components.values())
    failing = [name for name, c in components.items() if not c["ok"]]
    body = {"status": "ok" if ok else "error", "failing": failing, "components": components}
    return JsonResponse(body, status=200 if ok else 503)


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(hours=24)
    context = {"counts": dashboard_counts(since=since), "worker": worker_last_seen()}
    return render(request, "hub/dashboard.html", context)
