"""Validating a request's instances: the group's input check, compiled once per routing
generation (a fast yes for valid inputs; every problem, by field, otherwise), the routing
key and the batch size. A refusal is a 400 naming each field."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings

from groups.routing import RouteMember, routing_key_errors
from groups.selectors import RoutingTable
from inference.inputs import input_errors, type_error
from inference.serving.errors import InvalidInputs, ModelUnavailable
from inference.serving.jobs import PredictRequest
from inference.serving.versions import cached_version, is_external, version_label
from registry.models import ModelVersion

ROUTING_KEY_MAX = 200


_validators: dict[str, tuple[RoutingTable, int, Callable[..., dict]]] = {}


def validators_clear() -> None:
    _validators.clear()


def _feature_types(table: RoutingTable, champion: RouteMember) -> dict[str, dict]:
    """The group's features with their declared specs (from the champion's metadata)."""
    try:
        version = cached_version(champion.version_id)
    except ModelVersion.DoesNotExist as exc:
        message = f"Model version {champion.version_id} does not exist."
        raise ModelUnavailable(message, {"model": [message]}) from exc
    specs = {f["name"]: f for f in version.metadata.get("features", []) if "name" in f}
    names = table.features or tuple(version.feature_names)
    return {name: specs.get(name, {}) for name in names}


def _accepts(spec: dict) -> Callable[[Any], bool]:
    """A quick yes for a value `inputs.type_error` accepts (a no is explained by it)."""
    kind = spec.get("type", "numeric")
    if kind == "numeric":
        return lambda v: type(v) in (int, float) and math.isfinite(v)
    if kind == "boolean":
        return lambda v: type(v) is bool
    if kind == "text":
        return lambda v: isinstance(v, str)
    return lambda v: type_error(v, spec) is None


def compile_validator(features: dict[str, dict]) -> Callable[..., dict]:
    """The group's input check, built once per routing generation: a fast path for valid
    inputs, and `inputs.input_errors` (every problem, by field) for the rest."""
    checks = [(name, _accepts(spec)) for name, spec in features.items()]
    names = frozenset(features)

    def errors(inputs: Any, prefix: str) -> dict[str, list[str]]:
        if (
            type(inputs) is dict
            and inputs.keys() == names
            and all(check(inputs[name]) for name, check in checks)
        ):
            return {}
        return input_errors(inputs, features, prefix=prefix)

    return errors


def group_validator(table: RoutingTable, champion: RouteMember) -> Callable[..., dict]:
    held = _validators.get(table.slug)
    # A new routing generation is a new RoutingTable object: the check is built again.
    if held is not None and held[0] is table and held[1] == champion.version_id:
        return held[2]
    validator = compile_validator(_feature_types(table, champion))
    _validators[table.slug] = (table, champion.version_id, validator)
    return validator


def validate_instances(
    instances: Sequence[PredictRequest],
    validator: Callable[..., dict],
    *,
    batch: bool,
    mode: str,
) -> None:
    errors: dict[str, list[str]] = {}
    seen: dict[uuid.UUID, int] = {}
    for index, request in enumerate(instances):
        prefix = f"instances[{index}]." if batch else ""
        errors.update(validator(request.inputs, f"{prefix}inputs"))
        for name, messages in routing_key_errors(
            routing_mode=mode, routing_key=request.routing_key
        ).items():
            errors[f"{prefix}{name}"] = messages
        if len(request.routing_key or "") > ROUTING_KEY_MAX:
            errors[f"{prefix}routing_key"] = [f"At most {ROUTING_KEY_MAX} characters."]
        if request.request_id is not None:
            if request.request_id in seen:
                errors[f"{prefix}request_id"] = [
                    f"Repeats the request_id of instances[{seen[request.request_id]}]."
                ]
            seen[request.request_id] = index
    if errors:
        raise InvalidInputs(f"Invalid input: check {', '.join(errors)}.", errors)


def check_batch_size(
    table: RoutingTable, instances: Sequence[PredictRequest], *, batch: bool
) -> None:
    """An external (LLM) member costs a provider call per instance: a lower cap."""
    limit = settings.HUB_PREDICT_BATCH_MAX_EXTERNAL
    if not batch or len(instances) <= limit:
        return
    external = next((m for m in table.members if is_external(m.version_id)), None)
    if external is not None:
        message = (
            f"At most {limit} instances per request in a group served by an external (LLM) "
            f"model ({version_label(external.version_id)}), not {len(instances)}."
        )
        raise InvalidInputs(message, {"instances": [message]})
