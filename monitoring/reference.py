"""A version's reference: from an uploaded CSV or Parquet file, from a data frame (the
training hold-out, when a training job registers the version), or from a window of a
member's own live traffic.

Kept: a seeded sample of at most HUB_MONITORING_REFERENCE_ROWS rows (what the drift tests
compare against) and exact summaries of every row read (count, missing, min/max,
quantiles, category frequencies) plus the score distribution.

An upload is checked for size (HUB_MONITORING_REFERENCE_MAX_BYTES) before a byte is
parsed and for rows (HUB_MONITORING_REFERENCE_MAX_ROWS): a CSV as its chunks are read, a
Parquet file from its footer before any row is. Parquet (read with pyarrow) keeps its
column types and is told apart by its name (.parquet, .pq) or its magic bytes; only the
columns the reference needs are decoded.
"""

from __future__ import annotations

import io
import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from core.errors import ServiceError
from core.permissions import is_api_key
from groups.models import ModelGroup
from monitoring import drift
from monitoring.models import Reference, ReferenceSource
from monitoring.samples import window_sample
from registry.models import ModelVersion

SCORE_COLUMN = "score"
NON_FEATURE_COLUMNS = {SCORE_COLUMN, "prediction", "label", "outcome", "target", "default"}
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOP_CATEGORIES = 100
CSV_CHUNK_ROWS = 50_000
PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = (".parquet", ".pq")


class ReferenceInvalid(ServiceError):
    status = 400


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _numeric_summary(column: pd.Series) -> dict:
    values = column.dropna().to_numpy(dtype=float)
    summary: dict[str, Any] = {"kind": drift.NUMERIC, "count": int(values.size)}
    if values.size:
        quantiles = np.quantile(values, QUANTILES)
        summary.update(
            min=float(values.min()),
            max=float(values.max()),
            mean=float(values.mean()),
            std=float(values.std()),
            distinct=int(np.unique(values).size),
            quantiles={str(q): float(v) for q, v in zip(QUANTILES, quantiles, strict=True)},
        )
    return summary


def column_summary(column: pd.Series) -> dict:
    missing = int(column.isna().sum())
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return {**_numeric_summary(column), "missing": missing}
    counts = column.dropna().astype(str).value_counts()
    return {
        "kind": drift.CATEGORICAL,
        "count": int(counts.sum()),
        "missing": missing,
        "distinct": int(counts.size),
        "frequencies": {str(k): int(v) for k, v in counts.head(TOP_CATEGORIES).items()},
    }


def _features(version: ModelVersion, columns: list[str]) -> list[str]:
    declared = version.feature_names
    if not declared:
        return [c for c in columns if c not in NON_FEATURE_COLUMNS]
    absent = [name for name in declared if name not in columns]
    if absent:
        raise ReferenceInvalid(
            f"The reference lacks features of {version}: {', '.join(absent)}.",
            {"file": [f"Missing columns: {', '.join(absent)}."]},
        )
    return declared


def _scores(version: ModelVersion, frame: pd.DataFrame, features: list[str]) -> list[float | None]:
    """The reference's scores: its `score` column, else the version's own predictions."""
    if SCORE_COLUMN in frame.columns:
        return [_plain(v) for v in frame[SCORE_COLUMN].tolist()]
    from registry.predictors import predictor_for  # loads an artifact: only when needed

    try:
        records = [
            {k: _plain(v) for k, v in row.items()} for row in frame[features].to_dict("records")
        ]
        return [p.score for p in predictor_for(version).predict(records)]
    except Exception:
        return []


def _person(actor):
    return None if actor is None or is_api_key(actor) or not getattr(actor, "pk", None) else actor


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    cap = settings.HUB_MONITORING_REFERENCE_ROWS
    if len(frame) <= cap:
        return frame
    return frame.sample(n=cap, random_state=settings.HUB_MONITORING_SEED).sort_index()


@transaction.atomic
def reference_from_frame(
    *,
    model_version: ModelVersion,
    frame: pd.DataFrame,
    source: str,
    description: str = "",
    actor=None,
    shap_share: dict | None = None,
) -> Reference:
    """Store `frame` (feature columns, an optional `score`) as the version's reference."""
    if frame.empty:
        raise ReferenceInvalid("The reference has no rows.", {"file": ["No rows."]})
    features = _features(model_version, [str(c) for c in frame.columns])
    summaries = {name: column_summary(frame[name]) for name in features}
    sample = _sample(frame)
    scores = _scores(model_version, sample, features)
    score_values = pd.Series([s for s in scores if s is not None], dtype=float)
    reference, _ = Reference.objects.update_or_create(
        model_version=model_version,
        defaults={
            "source": source,
            "description": description[:300],
            "rows": len(frame),
            "features": features,
            "sample": {name: [_plain(v) for v in sample[name].tolist()] for name in features},
            "sample_scores": scores,
            "summaries": summaries,
            "score_summary": column_summary(score_values) if len(score_values) else {},
            "shap_share": shap_share or {},
            "created_by": _person(actor),
        },
    )
    return reference


def _read_csv(upload: UploadedFile) -> pd.DataFrame:
    max_rows = settings.HUB_MONITORING_REFERENCE_MAX_ROWS
    chunks, rows = [], 0
    text = io.TextIOWrapper(upload.file, encoding="utf-8", errors="strict")
    try:
        for chunk in pd.read_csv(text, chunksize=CSV_CHUNK_ROWS):
            rows += len(chunk)
            if rows > max_rows:
                raise ReferenceInvalid({"file": [f"More than {max_rows:,} rows: upload a sample."]})
            chunks.append(chunk)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReferenceInvalid({"file": [f"Not a readable CSV file: {exc}"]}) from None
    finally:
        text.detach()
    if not chunks:
        raise ReferenceInvalid({"file": ["The file has no rows."]})
    return pd.concat(chunks, ignore_index=True)


def _is_parquet(upload: UploadedFile) -> bool:
    if (upload.name or "").lower().endswith(PARQUET_SUFFIXES):
        return True
    upload.file.seek(0)
    head = upload.file.read(len(PARQUET_MAGIC))
    upload.file.seek(0)
    return head == PARQUET_MAGIC


def _read_parquet(upload: UploadedFile, wanted: set[str] | None) -> pd.DataFrame:
    """The file's rows, only the columns in `wanted` (all when None) decoded; the row count
    is read from the footer, so a file over the cap is refused before any row is."""
    max_rows = settings.HUB_MONITORING_REFERENCE_MAX_ROWS
    upload.file.seek(0)
    try:
        parquet = pq.ParquetFile(upload.file)
        if parquet.metadata.num_rows > max_rows:
            raise ReferenceInvalid({"file": [f"More than {max_rows:,} rows: upload a sample."]})
        columns = [c for c in parquet.schema_arrow.names if wanted is None or c in wanted]
        frame = parquet.read(columns=columns).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ReferenceInvalid({"file": [f"Not a readable Parquet file: {exc}"]}) from None
    if frame.empty:
        raise ReferenceInvalid({"file": ["The file has no rows."]})
    return frame


def _columns_needed(version: ModelVersion) -> set[str] | None:
    declared = version.feature_names
    return {*declared, SCORE_COLUMN} if declared else None


def reference_upload(*, model_version: ModelVersion, upload: UploadedFile, actor=None) -> Reference:
    """A reference from an uploaded CSV or Parquet file (size checked before a byte is parsed)."""
    limit = settings.HUB_MONITORING_REFERENCE_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise ReferenceInvalid({"file": [f"The file is larger than {limit // (1024 * 1024)} MB."]})
    if _is_parquet(upload):
        frame = _read_parquet(upload, _columns_needed(model_version))
    else:
        frame = _read_csv(upload)
    return reference_from_frame(
        model_version=model_version,
        frame=frame,
        source=ReferenceSource.UPLOAD,
        description=upload.name or "upload",
        actor=actor,
    )


def _window_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([row["inputs"] or {} for row in rows])
    frame[SCORE_COLUMN] = [row["score"] for row in rows]
    return frame


def _window_features(version: ModelVersion, group: ModelGroup, frame: pd.DataFrame) -> list[str]:
    return (
        version.feature_names or group.features or [c for c in frame.columns if c != SCORE_COLUMN]
    )


def reference_from_window(
    *, group: ModelGroup, model_version: ModelVersion, start: datetime, end: datetime, actor=None
) -> Reference:
    """ "Use last week of 1.2 as reference": a sample of the member's own logged rows."""
    if start >= end:
        raise ReferenceInvalid({"start": ["The window must start before it ends."]})
    sample = window_sample(
        group.table_name,
        model_version.pk,
        start,
        end,
        limit=settings.HUB_MONITORING_REFERENCE_ROWS,
        fields=("inputs", "score", "explanation"),
    )
    if not sample.rows:
        raise ReferenceInvalid(
            f"{model_version} logged no prediction in {group} between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M}.",
            {"start": ["No rows in this window."]},
        )
    frame = _window_frame(sample.rows)
    features = _window_features(model_version, group, frame)
    shares = drift.shap_shares((row["explanation"] for row in sample.rows), features)
    return reference_from_frame(
        model_version=model_version,
        frame=frame,
        source=ReferenceSource.LIVE,
        description=f"{group.slug}, {model_version.version}: {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC",
        actor=actor,
        shap_share=shares,
    )
