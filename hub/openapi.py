"""OpenAPI schema generation (drf-spectacular): component names, and the one error shape
referenced by every operation for each status it can answer with."""

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every API error: a sentence, and the fields it concerns with their messages."""

    message = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))

    class Meta:
        ref_name = "Error"


ERROR_DESCRIPTIONS = {
    "400": "Invalid input; `errors` names each field or parameter.",
    "401": "No credentials, or an invalid, revoked or expired API key.",
    "403": "The session's role or team, or the key's scopes or groups, do not allow this.",
    "404": "Not found.",
    "406": "The Accept header asks for a format the API does not produce.",
    "409": "Conflicts with the current state (e.g. a reused request id with other inputs).",
    "413": "The request body is larger than allowed.",
    "415": "Unsupported content type.",
    "429": "Too many requests; retry after the `Retry-After` header's seconds.",
    "500": "Internal server error.",
    "503": "A service the hub needs (database, cache, provider) is unavailable.",
}
READ_ERRORS = ("400", "401", "403", "404", "406", "429", "500", "503")
WRITE_ERRORS = READ_ERRORS + ("409", "413", "415")
NO_NUL = "^[^\\u0000]*$"
FILTER_BOUNDS = {"min_value": "minimum", "max_value": "maximum", "max_length": "maxLength"}


def _refuses_blank(field: Any, direction: str) -> bool:
    return (
        direction == "request"
        and isinstance(field, serializers.CharField)
        and not field.allow_blank
        and not field.read_only
    )


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: Any, direction: str) -> str:
        """Names the nested InputSerializer/OutputSerializer of each API view after the view
        (`GroupPredictApi.InputSerializer` -> `GroupPredictApiInput`), so the
        one-APIView-per-operation style never makes two components share a name."""
        qualname = type(serializer).__qualname__
        if "." in qualname and "<locals>" not in qualname:
            return qualname.replace(".", "")
        return super().get_serializer_name(serializer, direction)

    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict:
        # An uploaded file is a file part of a multipart body, not a URL (drf-spectacular's
        # choice when request and response components are not split).
        if isinstance(field, serializers.FileField) and direction == "request":
            return build_basic_type(OpenApiTypes.BINARY)
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if _refuses_blank(field, direction) and schema.get("type") == "string":
            schema.setdefault("minLength", 1)
            # DRF trims, then refuses what is left blank (a field's own pattern says more).
            if field.trim_whitespace and not any(
                isinstance(v, RegexValidator) for v in field.validators
            ):
                schema.setdefault("pattern", r"\S")
        return schema

    def _get_parameters(self) -> list[dict]:
        """Query parameters as the hub reads them: text without a NUL character (refused for
        every URL by core.middleware.QueryParameterCheck); a list's filter parameters as its
        FilterSet (`filterset_class`) reads them: an empty value is no filter (as the list
        pages' forms send it), and the filter's own bounds (`min_value`, `max_value`,
        `max_length`) are the schema's."""
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            plain = not {"enum", "format", "pattern"} & set(schema)
            if parameter["in"] == "query" and schema.get("type") == "string" and plain:
                schema["pattern"] = NO_NUL
        filterset = getattr(self.view, "filterset_class", None)
        if filterset is None:
            return parameters
        for parameter in parameters:
            found = filterset.base_filters.get(parameter["name"])
            if parameter["in"] != "query" or found is None:
                continue
            parameter["allowEmptyValue"] = True
            schema = parameter["schema"]
            for bound, keyword in FILTER_BOUNDS.items():
                if found.extra.get(bound) is not None:
                    schema[keyword] = found.extra[bound]
            choices = found.extra.get("choices")
            if callable(choices) and "enum" not in schema:  # from settings (e.g. risk tiers)
                schema["enum"] = [str(value) for value, _ in choices()]
        return parameters

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = READ_ERRORS if self.method in ("GET", "HEAD", "DELETE") else WRITE_ERRORS
        for code in codes:
            if code not in responses:
                error = OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
                responses[code] = self._get_response_for_code(error, code, direction=direction)
        return responses
