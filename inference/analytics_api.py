"""The comparison and the inference log over the API (session or API key)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups.auth import ApiKeyAuthentication, ApiKeyGrant, api_key_allows
from groups.models import ModelGroup
from inference import browser, comparison


def _group_for(request: Request, slug: str) -> ModelGroup:
    group = get_object_or_404(ModelGroup, slug=slug)
    if isinstance(request.auth, ApiKeyGrant) and not api_key_allows(request.auth, slug):
        raise PermissionDenied(f"This API key is not allowed to read group {slug!r}.")
    if not group.table_name:
        raise NotFound("This group has no inference table.")
    return group


class GroupComparisonApi(APIView):
    authentication_classes = [SessionAuthentication, ApiKeyAuthentication]

    class InputSerializer(serializers.Serializer):
        window = serializers.ChoiceField(choices=list(comparison.WINDOWS), default=comparison.DEFAULT_WINDOW)

    @extend_schema(
        parameters=[InputSerializer],
        summary="Champion and challengers side by side: metrics, 95% CIs, tests and verdicts",
        responses={200: dict},
    )
    def get(self, request: Request, slug: str) -> Response:
        group = _group_for(request, slug)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        result = comparison.group_comparison(
            group=group, window=params.validated_data["window"], with_series=False
        )
        return Response(result.as_dict())


class GroupInferencesApi(APIView):
    """Logged predictions, newest first, keyset-paginated: follow `next` until it is null."""

    authentication_classes = [SessionAuthentication, ApiKeyAuthentication]

    class OutputSerializer(serializers.Serializer):
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

    @extend_schema(
        parameters=[
            OpenApiParameter(name, str, required=False, description=text)
            for name, text in (
                ("window", "24h, 7d, 30d or all (default)"),
                ("since", "ISO date-time"),
                ("until", "ISO date-time"),
                ("role", "champion, challenger or shadow"),
                ("version", "model version id"),
                ("score_min", "0-1"),
                ("score_max", "0-1"),
                ("has_outcome", "yes or no"),
                ("outcome", "0 or 1"),
                ("q", "a request id or a routing key"),
                ("input", "one condition on an input, e.g. income > 50000"),
                ("cursor", "the next_cursor of the previous page"),
                ("page_size", f"1-{browser.MAX_PAGE_SIZE}, default {browser.PAGE_SIZE}"),
            )
        ],
        summary="Logged predictions with filters and cursor pagination",
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request, slug: str) -> Response:
        group = _group_for(request, slug)
        size_text = request.query_params.get("page_size", str(browser.PAGE_SIZE))
        if not size_text.isdigit() or not 1 <= int(size_text) <= browser.MAX_PAGE_SIZE:
            raise ValidationError({"page_size": [f"A number from 1 to {browser.MAX_PAGE_SIZE}."]})
        try:
            filters = browser.parse_filters(request.query_params, group=group)
            page = browser.inference_page(
                group=group,
                filters=filters,
                cursor=request.query_params.get("cursor") or None,
                size=int(size_text),
            )
        except browser.FilterError as exc:
            raise ValidationError(exc.errors) from exc
        next_url = None
        if page.next_cursor:
            query = request.query_params.copy()
            query["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response(
            {
                "next_cursor": page.next_cursor,
                "next": next_url,
                "results": self.OutputSerializer(page.rows, many=True).data,
            }
        )
