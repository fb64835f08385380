"""The comparison and the inference log over the API (a session, or a key with the
`read` scope on the group: `groups.view_modelgroup`)."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import valid_query
from inference import browser, comparison
from inference.access import VIEW_PERM, group_for
from inference.filters import InferenceFilterSet, filter_parameters


class GroupComparisonApi(APIView):
    perms = {"GET": VIEW_PERM}

    class InputSerializer(serializers.Serializer):
        window = serializers.ChoiceField(
            choices=list(comparison.WINDOWS), default=comparison.DEFAULT_WINDOW
        )

    @extend_schema(
        operation_id="group_comparison",
        parameters=[InputSerializer],
        summary="Champion and challengers side by side: metrics, 95% CIs, tests and verdicts",
        responses={200: dict},
    )
    def get(self, request: Request, slug: str) -> Response:
        group = group_for(request.user, slug)
        params = valid_query(self.InputSerializer, request)
        result = comparison.group_comparison(
            group=group, window=params["window"], with_series=False
        )
        return Response(result.as_dict())


class InferenceSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    model_version = serializers.IntegerField(source="model_version_id")
    role = serializers.CharField()
    routing_key = serializers.CharField()
    inputs = serializers.JSONField()
    prediction = serializers.JSONField()
    score = serializers.FloatField(allow_null=True)
    explanation = serializers.JSONField()
    base_value = serializers.FloatField(allow_null=True)
    latency_ms = serializers.FloatField()
    fallback = serializers.BooleanField()
    error = serializers.CharField()
    outcome = serializers.JSONField()
    outcome_at = serializers.DateTimeField(allow_null=True)


@extend_schema_view(
    get=extend_schema(
        operation_id="group_inferences_list",
        parameters=filter_parameters(InferenceFilterSet),
        summary="Logged predictions, newest first, with filters; follow `next` until it is null",
    )
)
class GroupInferencesApi(generics.ListAPIView):
    perms = {"GET": VIEW_PERM}
    serializer_class = InferenceSerializer
    pagination_class = browser.InferenceCursorPagination
    filter_backends: list = []  # InferenceFilterSet, applied in get_queryset (a table per group)
    filterset_class = InferenceFilterSet  # read by the schema (hub/openapi.py)

    def get_queryset(self) -> QuerySet:
        group = group_for(self.request.user, self.kwargs["slug"])
        return browser.filtered_rows(group, self.request.query_params)
