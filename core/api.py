"""DRF plumbing every app's API shares: the one error handler, pagination, input checks.

Every `/api/` error has one shape, documented once in the schema as `Error`:
`{"message": "...", "errors": {"field": ["..."]}}` — for 400, 401, 403, 404, 405, 409,
415, 429, 500 and 503 alike.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Errors, ServiceError, error_summary, flatten_errors

logger = logging.getLogger(__name__)

# Field named in the `errors` of the errors that carry no field of their own.
STATUS_FIELD = {401: "authorization", 403: "permission", 405: "method", 415: "content_type"}


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class LogCursorPagination(CursorPagination):
    """Newest first, stable under inserts: the inference log and other append-only lists."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def error_body(message: str, errors: Errors | None = None) -> dict[str, Any]:
    return {"message": message, "errors": errors or {}}


def _drf_errors(exc: exceptions.APIException) -> tuple[str, Errors]:
    detail = exc.detail
    if isinstance(detail, dict) and set(detail) == {"detail"}:
        detail = detail["detail"]
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(detail)
        return error_summary(errors) or "Invalid input.", errors
    if isinstance(detail, list):
        return " ".join(str(d) for d in detail), {}
    return str(detail), {}


def exception_handler(exc: Exception, context: dict) -> Response:
    """Renders every error of an API view as the one shape, a 500 included."""
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.message, exc.errors), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You do not have permission to do this.")
    if not isinstance(exc, exceptions.APIException):
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        return Response(error_body("Internal server error."), status=500)
    response = drf_exception_handler(exc, context)
    message, errors = _drf_errors(exc)
    if not errors and response.status_code in STATUS_FIELD:
        errors = {STATUS_FIELD[response.status_code]: [message]}
    response.data = error_body(message, errors)
    return response


def json_error(request: HttpRequest, status: int, message: str) -> JsonResponse:
    return JsonResponse(error_body(message), status=status)


def valid(serializer: serializers.Serializer) -> dict:
    """The serializer's data, or a 400 naming every field (flat paths for nested ones)."""
    if not serializer.is_valid():
        raise exceptions.ValidationError(serializer.errors)
    return serializer.validated_data
