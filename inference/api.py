"""The group endpoints workflows call: predict and feedback (API-key authenticated)."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups.auth import ApiKeyAuthentication, api_key_allows
from groups.models import ModelGroup
from inference.feedback import FeedbackError, FeedbackItem, feedback_record
from inference.serving import PredictRequest, ServingError, predict_batch


def _flat_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors ({"instances": [{}, {"request_id": [..]}]}) as flat field paths
    ("instances[1].request_id"), the shape every hub API error has."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = str(key) if not prefix else f"{prefix}.{key}"
            if key == "non_field_errors" and prefix:
                name = prefix
            out.update(_flat_errors(value, name))
        return out
    if isinstance(detail, list) and any(isinstance(d, dict | list) for d in detail):
        out = {}
        for index, item in enumerate(detail):
            if item:
                out.update(_flat_errors(item, f"{prefix}[{index}]"))
        return out
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(m) for m in messages]}


def _valid(serializer: serializers.Serializer) -> dict:
    if not serializer.is_valid():
        raise ValidationError(_flat_errors(serializer.errors))
    return serializer.validated_data


def _check_scope(request: Request, slug: str) -> None:
    if not api_key_allows(request.auth, slug):
        raise PermissionDenied(f"This API key may not call the group '{slug}'.")


def _error(exc: ServingError | FeedbackError, status_code: int) -> Response:
    return Response({"message": exc.message, "errors": exc.errors}, status=status_code)


class _ApiKeyView(APIView):
    # Workflows authenticate with a group-scoped API key only (401 without, 403 off scope).
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        data = response.data if isinstance(response.data, dict) else None
        if data is not None and not data.get("errors"):
            # Auth and parse errors name what to fix, like every other error of these endpoints.
            field = {401: "authorization", 403: "group"}.get(response.status_code, "body")
            data["errors"] = {field: [data.get("message", "")]}
        return response


class PredictApi(_ApiKeyView):
    class InstanceSerializer(serializers.Serializer):
        # Checked feature by feature against the group's features by the service.
        inputs = serializers.JSONField()
        routing_key = serializers.CharField(
            required=False, allow_blank=True, allow_null=True, max_length=200, default=""
        )
        request_id = serializers.UUIDField(required=False, allow_null=True, default=None)
        explain = serializers.BooleanField(required=False, default=True)

    class InputSerializer(InstanceSerializer):
        # One instance's fields (inputs optional here), or a batch in `instances`.
        inputs = serializers.JSONField(required=False)
        instances = serializers.ListField(child=serializers.DictField(), required=False)

        def validate(self, attrs: dict) -> dict:
            has_inputs, has_instances = "inputs" in attrs, "instances" in attrs
            if has_inputs == has_instances:
                raise serializers.ValidationError(
                    {"inputs": ["Send either inputs (one prediction) or instances (a batch)."]}
                )
            if has_instances:
                limit = settings.HUB_PREDICT_BATCH_MAX
                if not attrs["instances"]:
                    raise serializers.ValidationError({"instances": ["Send at least one instance."]})
                if len(attrs["instances"]) > limit:
                    raise serializers.ValidationError(
                        {"instances": [f"At most {limit} instances per request, not {len(attrs['instances'])}."]}
                    )
                instances = PredictApi.InstanceSerializer(data=attrs["instances"], many=True)
                attrs["instances"] = _valid(instances)
            return attrs

    class OutputSerializer(serializers.Serializer):
        class ModelRefSerializer(serializers.Serializer):
            name = serializers.CharField()
            version = serializers.CharField()
            id = serializers.IntegerField()

        request_id = serializers.UUIDField()
        group = serializers.SlugField()
        model = ModelRefSerializer()
        role = serializers.CharField()
        prediction = serializers.JSONField()
        score = serializers.FloatField(allow_null=True)
        explanation = serializers.DictField(child=serializers.FloatField(), allow_null=True)
        base_value = serializers.FloatField(allow_null=True)
        latency_ms = serializers.FloatField()
        explanation_note = serializers.CharField(required=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        summary="Predict (and explain) through the group's champion/challenger routing",
        description=(
            "One instance: {inputs, routing_key?, request_id?, explain?}. A batch: "
            "{instances: [...]} is answered by {results: [answer, ...]} in the same order. Every prediction is "
            "logged in the group's table before the answer. `explanation` holds SHAP values "
            "with `base_value + sum(values)` equal to the model output: log-odds for gradient "
            "boosting and logistic models, probability for forests and the permutation "
            "explainer. External (LLM) models answer with explanation null and a note."
        ),
        examples=[
            OpenApiExample(
                "One applicant",
                value={
                    "inputs": {"income": 52000, "debt_ratio": 0.31},
                    "routing_key": "applicant-123",
                    "explain": True,
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, slug: str) -> Response:
        _check_scope(request, slug)
        data = _valid(self.InputSerializer(data=request.data))
        batch = "instances" in data
        instances = [
            PredictRequest(
                inputs=item["inputs"],
                routing_key=item.get("routing_key") or "",
                request_id=item.get("request_id"),
                explain=item.get("explain", True),
            )
            for item in (data["instances"] if batch else [data])
        ]
        try:
            answers = predict_batch(
                slug=slug,
                instances=instances,
                batch=batch,
                # Read with the API key, in the same round trip to the cache.
                routing_generation=getattr(request, "routing_generation", None),
            )
        except ServingError as exc:
            return _error(exc, exc.status)
        # The answers are plain JSON already, in OutputSerializer's shape (the schema's).
        return Response({"results": answers} if batch else answers[0])


class FeedbackApi(_ApiKeyView):
    class ItemSerializer(serializers.Serializer):
        request_id = serializers.UUIDField()
        outcome = serializers.JSONField(allow_null=True)

    class InputSerializer(serializers.Serializer):
        request_id = serializers.UUIDField(required=False)
        outcome = serializers.JSONField(required=False, allow_null=True)
        items = serializers.ListField(child=serializers.DictField(), required=False)

        def validate(self, attrs: dict) -> dict:
            if ("items" in attrs) == ("request_id" in attrs):
                raise serializers.ValidationError(
                    {"request_id": ["Send either request_id and outcome, or items (a batch)."]}
                )
            if "request_id" in attrs and "outcome" not in attrs:
                raise serializers.ValidationError({"outcome": ["An outcome is required."]})
            if "items" in attrs:
                limit = settings.HUB_PREDICT_BATCH_MAX
                if not attrs["items"] or len(attrs["items"]) > limit:
                    raise serializers.ValidationError({"items": [f"Send between 1 and {limit} items."]})
                attrs["items"] = _valid(FeedbackApi.ItemSerializer(data=attrs["items"], many=True))
            return attrs

    class OutputSerializer(serializers.Serializer):
        request_id = serializers.UUIDField()
        status = serializers.CharField()
        message = serializers.CharField(allow_blank=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        summary="Record the true outcome of logged predictions",
    )
    def post(self, request: Request, slug: str) -> Response:
        _check_scope(request, slug)
        data = _valid(self.InputSerializer(data=request.data))
        group = ModelGroup.objects.filter(slug=slug).first()
        if group is None:
            return Response(
                {"message": f"No group '{slug}'.", "errors": {"group": [f"No group '{slug}'."]}},
                status=status.HTTP_404_NOT_FOUND,
            )
        batch = "items" in data
        raw = data["items"] if batch else [data]
        items = [FeedbackItem(request_id=i["request_id"], outcome=i["outcome"]) for i in raw]
        try:
            results = feedback_record(group=group, items=items, prefix="items" if batch else "")
        except FeedbackError as exc:
            return _error(exc, status.HTTP_400_BAD_REQUEST)
        if batch:
            return Response(
                {
                    "results": self.OutputSerializer(results, many=True).data,
                    "recorded": sum(r.status == "recorded" for r in results),
                    "unknown": sum(r.status == "unknown" for r in results),
                }
            )
        [result] = results
        if result.status != "recorded":
            return Response(
                {"message": result.message, "errors": {"request_id": [result.message]}},
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(self.OutputSerializer(result).data)
