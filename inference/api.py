"""The group endpoints workflows call: predict and feedback (an API key with the
`predict` scope on the group, `groups.predict_modelgroup`).

Each takes one of two bodies, both in the schema (`oneOf`): predict one instance
(`inputs`) or a batch (`instances`); feedback for one prediction (`request_id` and
`outcome`) or a batch (`items`). Errors are ServiceErrors rendered by core.api.

Predict is the hot path (inference/serving/): its body is parsed and its answer
rendered with orjson, without content negotiation (it speaks JSON only), and a body the
serializers would accept unchanged is taken as it is; anything else goes through them,
so their field errors are the ones a client sees. Its middleware is trimmed by
inference/middleware.py.
"""

import uuid
from typing import Any

import orjson
from django.conf import settings
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import valid
from core.roles import PREDICT_PERM
from inference.access import group_for, slug_in_scope
from inference.feedback import FeedbackItem, feedback_record, feedback_record_one
from inference.serving import ROUTING_KEY_MAX, PredictRequest, predict_batch


class OrjsonParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return orjson.loads(stream.read() if stream is not None else b"")
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars, as DRF's encoder
        return value.tolist()
    return str(value)  # lazy translations and other str-like values in error messages


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)


class JsonOnly(BaseContentNegotiation):
    """No negotiation: the endpoint reads and answers JSON only (415 for other bodies)."""

    def select_parser(self, request: Request, parsers: list) -> BaseParser | None:
        content_type = request.content_type.split(";", 1)[0].strip().lower()
        return next((p for p in parsers if p.media_type == content_type), None)

    def select_renderer(
        self, request: Request, renderers: list, format_suffix: str | None = None
    ) -> tuple:
        return renderers[0], renderers[0].media_type


class PredictOneSerializer(serializers.Serializer):
    # Checked feature by feature against the group's features by the service.
    inputs = serializers.DictField(
        help_text="Feature name -> value, for every feature of the group."
    )
    routing_key = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200, default=""
    )
    request_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Your id for this request: a retry with the same inputs returns the logged answer.",
    )
    explain = serializers.BooleanField(required=False, default=True)


class PredictBatchSerializer(serializers.Serializer):
    instances = serializers.ListField(child=PredictOneSerializer(), min_length=1)

    def validate(self, attrs: dict) -> dict:
        if "inputs" in self.initial_data:
            raise serializers.ValidationError(
                {
                    "inputs": [
                        "Send either inputs (one prediction) or instances (a batch), not both."
                    ]
                }
            )
        limit = settings.HUB_PREDICT_BATCH_MAX
        if len(attrs["instances"]) > limit:
            raise serializers.ValidationError(
                {
                    "instances": [
                        f"At most {limit} instances per request, not {len(attrs['instances'])}."
                    ]
                }
            )
        return attrs


class ModelRefSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    id = serializers.IntegerField()


class PredictionSerializer(serializers.Serializer):
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


class PredictionBatchSerializer(serializers.Serializer):
    results = PredictionSerializer(many=True)


def _either(name: str, one: type, many: type) -> PolymorphicProxySerializer:
    # No discriminator: the body's own fields tell the shapes apart (oneOf in the schema).
    return PolymorphicProxySerializer(
        component_name=name, serializers=[one, many], resource_type_field_name=None
    )


def _is_batch(data: Any, field: str) -> bool:
    return isinstance(data, dict) and field in data


_ONE_FIELDS = frozenset({"inputs", "routing_key", "request_id", "explain"})


def _taken_as_is(item: Any) -> PredictRequest | None:
    """The instance when PredictOneSerializer would accept it unchanged; None otherwise
    (the serializer then says what is wrong, or converts what it accepts)."""
    if (
        type(item) is not dict
        or not item.keys() <= _ONE_FIELDS
        or type(item.get("inputs")) is not dict
    ):
        return None
    routing_key = item.get("routing_key") or ""
    explain = item.get("explain", True)
    request_id = item.get("request_id")
    if type(routing_key) is not str or type(explain) is not bool:
        return None
    routing_key = routing_key.strip()  # as CharField trims
    if len(routing_key) > ROUTING_KEY_MAX or "\x00" in routing_key:
        return None
    if request_id is not None:
        if type(request_id) is not str:
            return None
        try:
            request_id = uuid.UUID(request_id)
        except ValueError:
            return None
    return PredictRequest(
        inputs=item["inputs"], routing_key=routing_key, request_id=request_id, explain=explain
    )


def _instances_as_is(data: Any) -> list[PredictRequest] | None:
    if type(data) is not dict or data.keys() != {"instances"}:
        return None
    items = data["instances"]
    if type(items) is not list or not 0 < len(items) <= settings.HUB_PREDICT_BATCH_MAX:
        return None
    instances = [_taken_as_is(item) for item in items]
    return None if None in instances else instances  # type: ignore[return-value]


def _instances(data: Any, batch: bool) -> list[PredictRequest]:
    fast = _instances_as_is(data) if batch else _taken_as_is(data)
    if fast is not None:
        return fast if batch else [fast]  # type: ignore[list-item]
    valid_data = valid((PredictBatchSerializer if batch else PredictOneSerializer)(data=data))
    return [
        PredictRequest(
            inputs=item["inputs"],
            routing_key=item.get("routing_key") or "",
            request_id=item.get("request_id"),
            explain=item.get("explain", True),
        )
        for item in (valid_data["instances"] if batch else [valid_data])
    ]


class PredictApi(APIView):
    perms = {"POST": PREDICT_PERM}
    parser_classes = [OrjsonParser]
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = JsonOnly

    @property
    def default_response_headers(self) -> dict[str, str]:
        # DRF builds these from the view's methods and renderers on every response.
        return {"Allow": "POST, OPTIONS"}

    @extend_schema(
        operation_id="group_predict",
        request=_either("PredictRequest", PredictOneSerializer, PredictBatchSerializer),
        responses={
            200: _either("PredictResponse", PredictionSerializer, PredictionBatchSerializer)
        },
        summary="Predict (and explain) through the group's champion/challenger routing",
        description=(
            "One instance: {inputs, routing_key?, request_id?, explain?}. A batch: "
            "{instances: [...]} is answered by {results: [answer, ...]} in the same order "
            "(at most HUB_PREDICT_BATCH_MAX instances; HUB_PREDICT_BATCH_MAX_EXTERNAL when "
            "the group has an external LLM member). Every prediction is logged in the group's "
            "table before the answer. A request_id already logged returns the logged answer; "
            "with other inputs it is a 409. `explanation` holds SHAP values with "
            "`base_value + sum(values)` equal to the model output: log-odds for gradient "
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
        slug_in_scope(request.user, slug)  # 403 off a key's scope, before reading the body
        batch = _is_batch(request.data, "instances")
        instances = _instances(request.data, batch)
        answers = predict_batch(
            slug=slug,
            instances=instances,
            batch=batch,
            # Read with the API key, in the same round trip to the cache.
            routing_generation=getattr(request, "routing_generation", None),
            user=request.user,
        )
        # The answers are plain JSON already, in PredictionSerializer's shape (the schema's).
        return Response({"results": answers} if batch else answers[0])


class FeedbackOneSerializer(serializers.Serializer):
    request_id = serializers.UUIDField(help_text="The request_id of the logged prediction.")
    outcome = serializers.JSONField(help_text="The true label: 0 or 1, a class, or a number.")


class FeedbackBatchSerializer(serializers.Serializer):
    items = serializers.ListField(child=FeedbackOneSerializer(), min_length=1)

    def validate(self, attrs: dict) -> dict:
        if "request_id" in self.initial_data:
            raise serializers.ValidationError(
                {
                    "request_id": [
                        "Send either request_id and outcome, or items (a batch), not both."
                    ]
                }
            )
        limit = settings.HUB_PREDICT_BATCH_MAX
        if len(attrs["items"]) > limit:
            raise serializers.ValidationError({"items": [f"Send between 1 and {limit} items."]})
        return attrs


class FeedbackResultSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["recorded", "unknown"])
    message = serializers.CharField(allow_blank=True)


class FeedbackBatchResultSerializer(serializers.Serializer):
    results = FeedbackResultSerializer(many=True)
    recorded = serializers.IntegerField()
    unknown = serializers.IntegerField()


class FeedbackApi(APIView):
    perms = {"POST": PREDICT_PERM}
    # JSON only, as documented: one request shape per body, so a generated client sends JSON.
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="group_feedback",
        request=_either("FeedbackRequest", FeedbackOneSerializer, FeedbackBatchSerializer),
        responses={
            200: _either(
                "FeedbackResponse", FeedbackResultSerializer, FeedbackBatchResultSerializer
            )
        },
        summary="Record the true outcome of logged predictions",
        description=(
            "One: {request_id, outcome} (404 when the group never logged that request_id). "
            "A batch: {items: [{request_id, outcome}, ...]}, answered item by item."
        ),
    )
    def post(self, request: Request, slug: str) -> Response:
        group = group_for(request.user, slug, PREDICT_PERM)
        if _is_batch(request.data, "items"):
            data = valid(FeedbackBatchSerializer(data=request.data))
            items = [
                FeedbackItem(request_id=i["request_id"], outcome=i["outcome"])
                for i in data["items"]
            ]
            results = feedback_record(group=group, items=items, prefix="items")
            return Response(
                {
                    "results": FeedbackResultSerializer(results, many=True).data,
                    "recorded": sum(r.status == "recorded" for r in results),
                    "unknown": sum(r.status == "unknown" for r in results),
                }
            )
        data = valid(FeedbackOneSerializer(data=request.data))
        item = FeedbackItem(request_id=data["request_id"], outcome=data["outcome"])
        return Response(FeedbackResultSerializer(feedback_record_one(group=group, item=item)).data)
