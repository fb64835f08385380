"""scikit-learn artifacts in the skops format, never pickle.

skops refuses to load any type it does not trust by default. The hub widens that list only
for sklearn's own classes (estimators, pipelines, and the tree structures skops flags by
default); anything else must be trusted on that version by a staff user, who is recorded.
"""

import hashlib
import importlib
import io
import zipfile
from typing import Any

import skops.io as sio
from django.conf import settings

from core.errors import ServiceError
from registry.models import ModelVersion

# Types skops flags by default that are part of sklearn's own tree models.
ALLOWED_TREE_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.link.Interval",
    }
)


# Entries smaller than this cannot inflate to much, whatever their ratio.
_RATIO_FLOOR_BYTES = 1024 * 1024


class ArtifactError(ServiceError):
    """A version's artifact cannot be stored or loaded; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, {"artifact": [message]})


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MB"


def artifact_check_size(size: int) -> None:
    """Refuse an upload by its announced size, before a byte of it is read."""
    limit = settings.HUB_ARTIFACT_MAX_BYTES
    if size > limit:
        raise ArtifactError(
            f"The artifact is {_megabytes(size)}; the limit is {_megabytes(limit)}."
        )


def _entry_problem(entry: zipfile.ZipInfo) -> str:
    ratio = entry.file_size / max(entry.compress_size, 1)
    if entry.file_size > _RATIO_FLOOR_BYTES and ratio > settings.HUB_ARTIFACT_MAX_RATIO:
        return (
            f"its entry {entry.filename!r} is compressed {ratio:,.0f} to 1 "
            f"(the limit is {settings.HUB_ARTIFACT_MAX_RATIO} to 1)"
        )
    if entry.file_size > settings.HUB_ARTIFACT_MAX_UNCOMPRESSED_BYTES:
        return (
            f"its entry {entry.filename!r} unpacks to {_megabytes(entry.file_size)} (the limit is "
            f"{_megabytes(settings.HUB_ARTIFACT_MAX_UNCOMPRESSED_BYTES)})"
        )
    return ""


def artifact_check_archive(data: bytes) -> None:
    """Check the zip's directory before skops (or anything) unpacks it: the number of
    entries, each entry's unpacked size and compression ratio, and the total. Only the
    central directory is read, so a zip bomb is refused in milliseconds. (zipfile never
    returns more than an entry's declared size, so the declared sizes bind.)"""
    artifact_check_size(len(data))
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ArtifactError(
            "The file is not a skops artifact (a skops file is a zip archive); save the model "
            "with skops.io.dump."
        ) from None
    if len(entries) > settings.HUB_ARTIFACT_MAX_ENTRIES:
        raise ArtifactError(
            f"The artifact holds {len(entries):,} files; the limit is {settings.HUB_ARTIFACT_MAX_ENTRIES:,}."
        )
    for entry in entries:
        problem = _entry_problem(entry)
        if problem:
            raise ArtifactError(f"The artifact is refused: {problem}.")
    total = sum(entry.file_size for entry in entries)
    if total > settings.HUB_ARTIFACT_MAX_UNCOMPRESSED_BYTES:
        raise ArtifactError(
            f"The artifact unpacks to {_megabytes(total)}; the limit is "
            f"{_megabytes(settings.HUB_ARTIFACT_MAX_UNCOMPRESSED_BYTES)}."
        )


def artifact_dump(estimator: Any) -> bytes:
    return sio.dumps(estimator)


def artifact_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_sklearn_estimator_class(type_name: str) -> bool:
    # Plain sklearn estimators (a newer one skops does not know yet): the class must live in
    # sklearn and be a BaseEstimator. Importing a module under sklearn runs only sklearn's code.
    if not type_name.startswith("sklearn."):
        return False
    module_name, _, attr = type_name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    from sklearn.base import BaseEstimator

    return isinstance(obj, type) and issubclass(obj, BaseEstimator)


def type_is_allowed(type_name: str) -> bool:
    return type_name in ALLOWED_TREE_TYPES or _is_sklearn_estimator_class(type_name)


def artifact_untrusted_types(data: bytes) -> list[str]:
    """Types in the file that skops does not trust and the hub's allow-list does not cover."""
    artifact_check_archive(data)
    try:
        flagged = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises a variety of errors for a file that is not skops
        raise ArtifactError(
            f"The file is not a readable skops artifact ({type(exc).__name__})."
        ) from exc
    return sorted(t for t in flagged if not type_is_allowed(t))


def artifact_read(version: ModelVersion) -> bytes:
    if not version.artifact:
        raise ArtifactError(f"{version} has no artifact: upload a skops file for it.")
    try:
        with version.artifact.open("rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ArtifactError(f"The artifact of {version} cannot be read from storage.") from exc
    if version.artifact_sha256 and artifact_sha256(data) != version.artifact_sha256:
        raise ArtifactError(f"The artifact of {version} does not match its recorded checksum.")
    return data


def estimator_check_features(estimator: Any, feature_names: list[str]) -> list[str]:
    """Problems between a fitted estimator and the declared features (empty if consistent)."""
    problems: list[str] = []
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in is not None and feature_names and int(n_in) != len(feature_names):
        problems.append(
            f"the estimator expects {int(n_in)} features but the metadata declares {len(feature_names)}"
        )
    names_in = getattr(estimator, "feature_names_in_", None)
    if names_in is not None and feature_names:
        names_in = [str(n) for n in names_in]
        if names_in != list(feature_names):
            problems.append(
                "the estimator was fitted on features "
                f"{names_in} but the metadata declares {list(feature_names)} (same names, same order)"
            )
    return problems


def artifact_loads(
    data: bytes, *, trusted_types: list[str], feature_names: list[str], label: str
) -> Any:
    refused = [t for t in artifact_untrusted_types(data) if t not in set(trusted_types)]
    if refused:
        raise ArtifactError(
            f"{label} contains types outside the hub's allowed list: {', '.join(refused)}. "
            "A staff user can review and trust them on this version in the admin."
        )
    try:
        estimator = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    except Exception as exc:
        raise ArtifactError(f"{label} could not be loaded: {exc}") from exc
    problems = estimator_check_features(estimator, feature_names)
    if problems:
        raise ArtifactError(
            f"{label} does not match its declared features: " + "; ".join(problems) + "."
        )
    return estimator


def artifact_load(version: ModelVersion) -> Any:
    return artifact_loads(
        artifact_read(version),
        trusted_types=list(version.trusted_types or []),
        feature_names=version.feature_names,
        label=f"The artifact of {version}",
    )
