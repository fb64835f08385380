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
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Errors, ServiceError, error_summary, flatten_errors

logger = logging.getLogger(__name__)

# Field named in the `errors` of the errors that carry no field of their own.
STATUS_FIELD = {401: "authorization", 403: "permission", 405: "method", 415: "content_type"}


MAX_PAGE_SIZE = 500


def _whole_number(request: Request, name: str, *, most: int | None = None) -> int | None:
    """The query parameter as a whole number from 1 (to `most`); None when it is absent.
    DRF ignores a bad page size and answers a bad page number with 404: both are a 400
    naming the parameter here, as the schema says (`minimum`, `maximum`)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    number = int(raw) if raw.isascii() and raw.isdigit() else 0
    if number < 1 or (most is not None and number > most):
        limit = f"from 1 to {most}" if most is not None else "from 1"
        raise exceptions.ValidationError({name: [f"A whole number {limit}."]})
    return number


def _page_size_parameter(paginator: Any) -> dict:
    return {
        "name": paginator.page_size_query_param,
        "required": False,
        "in": "query",
        "description": f"Results per page (from 1 to {paginator.max_page_size}).",
        "schema": {"type": "integer", "minimum": 1, "maximum": paginator.max_page_size},
    }


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        return _whole_number(request, "page_size", most=self.max_page_size) or self.page_size

    def get_page_number(self, request: Request, paginator: Any) -> int | str:
        # A page past the last one stays DRF's 404; a page that is no number is a 400.
        return _whole_number(request, self.page_query_param) or 1

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        page = {
            "name": self.page_query_param,
            "required": False,
            "in": "query",
            "description": "Page number (from 1).",
            "schema": {"type": "integer", "minimum": 1},
        }
        return [page, _page_size_parameter(self)]


# The page parameters of an APIView that paginates by hand (a generic view or one with a
# `pagination_class` gets them from the paginator itself).
PAGE_PARAMETERS = [
    OpenApiParameter(
        "page", {"type": "integer", "minimum": 1}, description="Page number (from 1)."
    ),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        description=f"Results per page (from 1 to {MAX_PAGE_SIZE}).",
    ),
]


class LogCursorPagination(CursorPagination):
    """Newest first, stable under inserts: the inference log and other append-only lists."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        return _whole_number(request, "page_size", most=self.max_page_size) or self.page_size

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        cursor, _ = super().get_schema_operation_parameters(view)
        return [cursor, _page_size_parameter(self)]


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


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's, where a value with a NUL character (which PostgreSQL's text cannot hold, a
    500 in the lookup) names no object, like any other unknown value."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


def _parts(field: serializers.Field, value: Any, path: str) -> list[tuple[Any, Any, str]]:
    """The (field, value, path) of each part of a nested value: a serializer's fields, a
    list's items, a dict's values."""
    if isinstance(field, serializers.Serializer) and isinstance(value, dict):
        return [
            (child, value[name], f"{path}.{name}" if path else name)
            for name, child in field.fields.items()
            if name in value and not child.read_only
        ]
    child = getattr(field, "child", None)
    if child is not None and isinstance(value, list):
        return [(child, item, f"{path}[{index}]") for index, item in enumerate(value)]
    if child is not None and isinstance(value, dict):
        return [(child, item, f"{path}.{key}") for key, item in value.items()]
    return []


def _not_text(field: serializers.Field, value: Any, path: str) -> Errors:
    """The text fields of a JSON body that hold something else: DRF's CharField turns 0
    into "0", where the schema (a string) refuses it."""
    if isinstance(field, serializers.CharField):
        return {} if value is None or isinstance(value, str) else {path: ["Not a valid string."]}
    found: Errors = {}
    for part, item, where in _parts(field, value, path):
        found.update(_not_text(part, item, where))
    return found


def valid(serializer: serializers.Serializer) -> dict:
    """The serializer's data, or a 400 naming every field (flat paths for nested ones)."""
    data = getattr(serializer, "initial_data", None)
    if type(data) is dict:  # a JSON body (a form or a query string holds text only)
        not_text = _not_text(serializer, data, "")
        if not_text:
            raise exceptions.ValidationError(not_text)
    if not serializer.is_valid():
        raise exceptions.ValidationError(serializer.errors)
    return serializer.validated_data


def valid_query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """The query parameters through `serializer_class`, as plain values: DRF reads a query
    string as a form, where `?window=` means "not sent"; here an empty value is a value,
    refused like any other the schema does not allow."""
    return valid(serializer_class(data=request.query_params.dict()))
