"""OpenAPI schema generation (drf-spectacular), kept apart from hub/api.py, which DRF
imports while its own generics module is still loading."""

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    """Names the nested InputSerializer/OutputSerializer of each API view after the view
    (`GroupPredictApi.InputSerializer` -> `GroupPredictApiInput`), so the one-APIView-per-
    operation style never makes two schema components share a name."""

    def get_serializer_name(self, serializer: Any, direction: str) -> str:
        qualname = type(serializer).__qualname__
        if "." in qualname and "<locals>" not in qualname:
            return qualname.replace(".", "")
        return super().get_serializer_name(serializer, direction)
