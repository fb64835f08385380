from collections.abc import Callable

from django.contrib.auth.middleware import LoginRequiredMiddleware as BaseLoginRequired
from django.http import HttpRequest, HttpResponse


class LoginRequiredMiddleware(BaseLoginRequired):
    """Every page needs a login (the interactive API docs too); the API and its schema
    authenticate themselves (session or API key) and answer 401/403 as JSON, and /healthz
    is for load balancers."""

    open_prefixes = ("/api/v1/", "/api/schema/", "/healthz", "/static/")

    def process_view(
        self, request: HttpRequest, view_func: Callable, view_args: list, view_kwargs: dict
    ) -> HttpResponse | None:
        if request.path_info.startswith(self.open_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
