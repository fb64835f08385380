"""DRF plumbing shared by every app's API: errors as JSON, pagination."""

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def _field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            str(field): [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for field, msgs in detail.items()
        }
    return {}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Every API error reads the same: {"message": "...", "errors": {"field": ["..."]}}."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    errors = _field_errors(detail)
    if isinstance(detail, dict) and "detail" in detail and len(detail) == 1:
        message, errors = str(detail["detail"]), {}
    elif errors:
        non_field = errors.pop("non_field_errors", [])
        message = " ".join(non_field) or "Invalid input: " + ", ".join(
            f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()
        )
    elif isinstance(detail, list):
        message = " ".join(str(d) for d in detail)
    else:
        message = str(detail)
    response.data = {"message": message, "errors": errors}
    return response
