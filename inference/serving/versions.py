"""The model versions this process serves: each row read once, its predictor loaded once,
and a version that failed to load not retried on every request."""

from __future__ import annotations

import time
from datetime import datetime

from registry.models import Flavor, ModelVersion
from registry.predictors import Predictor, PredictorUnavailable, predictor_for

# A version that failed to load is not retried on every request (that would put a database
# read and a file read on the hot path of every request routed to it); after this long, it is.
FAILED_VERSION_RETRY_SECONDS = 30.0


_versions: dict[int, ModelVersion] = {}


_failures: dict[int, tuple[float, str]] = {}


def versions_clear() -> None:
    _versions.clear()
    _failures.clear()


def cached_version(version_id: int) -> ModelVersion:
    version = _versions.get(version_id)
    if version is None:
        # Read once per process (external versions are checked for changes, version_predictor).
        version = ModelVersion.objects.select_related("model", "provider").get(pk=version_id)
        _versions[version_id] = version
    return version


def _stamp(version: ModelVersion) -> tuple[datetime | None, datetime | None]:
    provider = version.provider if version.provider_id else None
    return version.updated_at, provider.updated_at if provider is not None else None


def _forget_if_changed(version_id: int) -> None:
    """An external version whose row or provider changed since this process read it (a new
    key, a deactivated provider, an edited prompt) is read again. One indexed SELECT of two
    timestamps, only for external versions, each of whose instances costs an LLM call
    anyway; a scikit-learn version's artifact and features never change once registered."""
    version = _versions.get(version_id)
    if version is None or version.flavor != Flavor.EXTERNAL:
        return
    current = (
        ModelVersion.objects.filter(pk=version_id)
        .values_list("updated_at", "provider__updated_at")
        .first()
    )
    if current != _stamp(version):
        _versions.pop(version_id, None)


def version_predictor(version_id: int) -> tuple[ModelVersion, Predictor]:
    failed = _failures.get(version_id)
    if failed and time.monotonic() - failed[0] < FAILED_VERSION_RETRY_SECONDS:
        raise PredictorUnavailable(failed[1])
    _forget_if_changed(version_id)
    try:
        version = cached_version(version_id)
        predictor = predictor_for(version)
    except ModelVersion.DoesNotExist as exc:
        message = f"Model version {version_id} does not exist."
        _failures[version_id] = (time.monotonic(), message)
        raise PredictorUnavailable(message) from exc
    except PredictorUnavailable as exc:
        _failures[version_id] = (time.monotonic(), str(exc))
        # Read the row again next time: someone may fix it (trust its types, set a provider).
        _versions.pop(version_id, None)
        raise
    _failures.pop(version_id, None)
    return version, predictor


def is_external(version_id: int) -> bool:
    try:
        return cached_version(version_id).flavor == Flavor.EXTERNAL
    except ModelVersion.DoesNotExist:
        return False


def version_label(version_id: int) -> str:
    try:
        return str(cached_version(version_id))
    except ModelVersion.DoesNotExist:
        return f"model version {version_id}"
