"""OpenAPI schema generation (drf-spectacular): component names, and the one error shape
referenced by every operation for each status it can answer with."""

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
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


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: Any, direction: str) -> str:
        """Names the nested InputSerializer/OutputSerializer of each API view after the view
        (`GroupPredictApi.InputSerializer` -> `GroupPredictApiInput`), so the
        one-APIView-per-operation style never makes two components share a name."""
        qualname = type(serializer).__qualname__
        if "." in qualname and "<locals>" not in qualname:
            return qualname.replace(".", "")
        return super().get_serializer_name(serializer, direction)

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
