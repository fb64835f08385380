"""Monitoring test data: a real serving group (tests/inference/serving_factories.py), a
CSV or Parquet reference, and live traffic with incomes shifted."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.demo import CREDIT_FEATURES, credit_dataset
from tests.inference.serving_factories import credit_rows, log_model, post


def reference_csv(rows: int, seed: int = 5) -> bytes:
    frame = credit_dataset(rows=rows, seed=seed)[CREDIT_FEATURES]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def csv_upload(rows: int, name: str = "reference.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, reference_csv(rows), content_type="text/csv")


def reference_parquet(rows: int, seed: int = 5) -> bytes:
    """The rows of `reference_csv(rows, seed)`, written by pyarrow (no pandas index)."""
    frame = credit_dataset(rows=rows, seed=seed)[CREDIT_FEATURES]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def parquet_upload(rows: int, name: str = "reference.parquet") -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name, reference_parquet(rows), content_type="application/vnd.apache.parquet"
    )


def send_traffic(
    client, setup, *, count: int = 300, income_factor: float = 1.6, seed: int = 77
) -> None:
    rows = credit_rows(count, seed=seed)
    for row in rows:
        row["income"] = round(row["income"] * income_factor, 2)
    for start in range(0, count, 100):
        instances = [{"inputs": r} for r in rows[start : start + 100]]
        response = post(client, setup.predict_url, {"instances": instances}, setup.key)
        assert response.status_code == 200, response.content


def logged_values(group, version, feature: str) -> np.ndarray:
    inputs = (
        log_model(group)
        .objects.filter(model_version_id=version.pk)
        .values_list("inputs", flat=True)
    )
    return np.array([i[feature] for i in inputs], dtype=float)
