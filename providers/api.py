from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Pagination
from providers.models import Provider
from providers.selectors import providers_for_display


class ProviderHealthSerializer(serializers.Serializer):
    status = serializers.CharField(
        source="health_label", help_text="healthy, failing or not checked"
    )
    ok = serializers.BooleanField(source="health_ok", allow_null=True)
    checked_at = serializers.DateTimeField(source="health_checked_at", allow_null=True)
    latency_ms = serializers.FloatField(source="health_latency_ms", allow_null=True)
    message = serializers.CharField(source="health_message")

    class Meta:
        ref_name = "ProviderHealth"


class ProviderOutputSerializer(serializers.ModelSerializer):
    """A provider as the API shows it: never any key material beyond its last four characters."""

    kind_display = serializers.CharField(source="get_kind_display")
    key_last4 = serializers.CharField(source="api_key_last4")
    health = ProviderHealthSerializer(source="*")
    models = serializers.ListField(source="health_models", child=serializers.CharField())

    class Meta:
        model = Provider
        ref_name = "Provider"
        fields = [
            "id",
            "name",
            "kind",
            "kind_display",
            "default_model",
            "is_active",
            "has_key",
            "key_last4",
            "supports_fine_tuning",
            "health",
            "models",
            "created_at",
            "updated_at",
        ]


class ProviderListApi(APIView):
    perms = {"GET": "providers.view_provider"}
    OutputSerializer = ProviderOutputSerializer
    pagination_class = Pagination  # also tells the schema the list is paginated

    @extend_schema(operation_id="providers_list", responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(providers_for_display(), request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class ProviderDetailApi(APIView):
    perms = {"GET": "providers.view_provider"}
    OutputSerializer = ProviderOutputSerializer

    @extend_schema(operation_id="providers_retrieve", responses=OutputSerializer)
    def get(self, request: Request, provider_id: int) -> Response:
        provider = get_object_or_404(Provider, pk=provider_id)
        return Response(self.OutputSerializer(provider).data)
