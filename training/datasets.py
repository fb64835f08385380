"""Training rows: a group's decision log or an uploaded CSV/JSONL file, checked against the
base model's features, and frozen into a snapshot file (row count, columns, sha256).

Every problem is reported at once, naming the row and the column at fault, so a user can
fix a file in one pass.
"""

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import pandas as pd

from core.errors import ServiceError

MAX_LISTED_PROBLEMS = 20
MIN_ROWS = 20
NUMERIC_TYPES = ("numeric", "integer", "boolean")
TRUE_WORDS = {"1", "true", "yes"}
FALSE_WORDS = {"0", "false", "no"}
DECISION_LOG_LABEL = "outcome"
# The registry's task values (registry.models.Task), as plain strings: no Django here.
BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"
MIN_CLASSES = {BINARY: 2, MULTICLASS: 3}


class DatasetError(ServiceError):
    """Bad training data (400); `errors` maps a form field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(" ".join(m for msgs in errors.values() for m in msgs), errors)


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    type: str = "numeric"  # numeric, integer, categorical, boolean or text
    categories: tuple | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.categories:
            out["categories"] = list(self.categories)
        return out


def feature_specs_from(
    entries: Iterable[Any], *, default_type: str = "numeric"
) -> list[FeatureSpec]:
    """Features from registry metadata (dicts with name/type) or a group's list of names."""
    specs = []
    for entry in entries:
        if isinstance(entry, str):
            specs.append(FeatureSpec(entry, default_type))
        elif isinstance(entry, dict) and entry.get("name"):
            categories = entry.get("categories")
            specs.append(
                FeatureSpec(
                    str(entry["name"]),
                    str(entry.get("type") or default_type),
                    tuple(categories) if categories else None,
                )
            )
    return specs


@dataclass(frozen=True)
class Rows:
    """Validated rows: features in the base model's order plus the label column."""

    frame: pd.DataFrame
    features: list[FeatureSpec]
    label_column: str

    @property
    def row_count(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)


# --- value checks -------------------------------------------------------------------------


def _is_empty(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def _number(value: Any, spec: FeatureSpec) -> float | int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    if spec.type != "integer":
        return number
    if not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def _boolean(value: Any, spec: FeatureSpec) -> int:
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return 1
    if word in FALSE_WORDS:
        return 0
    raise ValueError(f"{value!r} is not true/false or 1/0")


def _text(value: Any, spec: FeatureSpec) -> str:
    text = str(value)
    if (
        spec.type == "categorical"
        and spec.categories
        and value not in spec.categories
        and text not in {str(c) for c in spec.categories}
    ):
        raise ValueError(f"{value!r} is not one of {', '.join(map(str, spec.categories))}")
    return text


_COERCERS = {"numeric": _number, "integer": _number, "boolean": _boolean}


def _coerce(value: Any, spec: FeatureSpec) -> Any:
    """The typed value, or ValueError with what is wrong (the caller adds row and column)."""
    if _is_empty(value):
        raise ValueError("is empty")
    return _COERCERS.get(spec.type, _text)(value, spec)


def _binary_label(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    word = str(value).strip().lower()
    if word in ("1", "1.0", "true"):
        return 1
    if word in ("0", "0.0", "false"):
        return 0
    raise ValueError(f"{value!r} is not a binary label (0 or 1)")


def _numeric_label(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number (a regression model needs a numeric label)")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{value!r} is not a number (a regression model needs a numeric label)"
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _class_label(value: Any) -> Any:
    if isinstance(value, dict | list):
        raise ValueError(f"{value!r} is not a class label (a text or a whole number)")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# How a label is read per task (registry Task values); other tasks keep it as it is.
_LABEL_READERS = {
    BINARY: _binary_label,
    MULTICLASS: _class_label,
    REGRESSION: _numeric_label,
}


def _label_task(task: str, binary_label: bool) -> str:
    return task or (BINARY if binary_label else "")


def _record_values(
    row_name: str,
    record: dict[str, Any],
    *,
    features: list[FeatureSpec],
    label_column: str,
    binary_label: bool,
    task: str = "",
) -> tuple[dict[str, Any], list[str]]:
    """The typed values of one record (label included) and what is wrong with it."""
    problems = []
    values = {}
    for spec in features:
        try:
            values[spec.name] = _coerce(record.get(spec.name), spec)
        except ValueError as exc:
            problems.append(f"{row_name}, column '{spec.name}': {exc}.")
    try:
        raw_label = record.get(label_column)
        if _is_empty(raw_label):
            raise ValueError("is empty")
        reader = _LABEL_READERS.get(_label_task(task, binary_label))
        values[label_column] = reader(raw_label) if reader else raw_label
    except ValueError as exc:
        problems.append(f"{row_name}, label column '{label_column}': {exc}.")
    return values, problems


class _Problems:
    """The first MAX_LISTED_PROBLEMS problems, and how many more there were."""

    def __init__(self) -> None:
        self.listed: list[str] = []
        self.more = 0

    def add(self, problems: list[str]) -> None:
        room = max(MAX_LISTED_PROBLEMS - len(self.listed), 0)
        self.listed.extend(problems[:room])
        self.more += max(len(problems) - room, 0)

    def messages(self) -> list[str]:
        return self.listed + ([f"…and {self.more} more problems."] if self.more else [])


def rows_from_records(
    records: Iterable[tuple[str, dict[str, Any]]],
    *,
    features: list[FeatureSpec],
    label_column: str,
    binary_label: bool = False,
    field: str = "file",
    max_rows: int | None = None,
    task: str = "",
) -> Rows:
    """Check every record (row name, {column: value}); DatasetError lists what is wrong.
    `task` (a registry Task value) decides how the label is read: 0/1 (binary), a class
    (multiclass), a number (regression); binary_label=True is the same as the binary task."""
    problems = _Problems()
    names = [spec.name for spec in features] + [label_column]
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for count, (row_name, record) in enumerate(records, start=1):
        if max_rows is not None and count > max_rows:
            raise DatasetError({field: [f"More than {max_rows} rows: split the file."]})
        values, row_problems = _record_values(
            row_name,
            record,
            features=features,
            label_column=label_column,
            binary_label=binary_label,
            task=task,
        )
        if row_problems:
            problems.add(row_problems)
            continue
        for name in names:
            columns[name].append(values[name])
    if problems.listed:
        raise DatasetError({field: problems.messages()})
    frame = pd.DataFrame(columns)
    return Rows(frame=frame, features=features, label_column=label_column)


def _check_columns(
    present: Iterable[str], *, features: list[FeatureSpec], label_column: str, field: str = "file"
) -> None:
    present = set(present)
    missing = [spec.name for spec in features if spec.name not in present]
    problems = [
        f"Column '{name}' is missing: the base model's features are "
        f"{', '.join(spec.name for spec in features)}."
        for name in missing
    ]
    if label_column not in present:
        problems.append(
            f"The label column '{label_column}' is missing (the column with the true outcome)."
        )
    if problems:
        raise DatasetError({field: problems})


# --- uploaded files -----------------------------------------------------------------------


def file_format_for(filename: str) -> str:
    lower = filename.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    raise DatasetError({"file": [f"'{filename}' is neither a .csv nor a .jsonl file."]})


def check_upload_size(size: int | None, *, limit: int, field: str = "file") -> None:
    """Refuse a file by the size the upload handler counted, before reading any of it."""
    if size is None or size <= limit:
        return
    raise DatasetError(
        {field: [f"The file is {_megabytes(size)}; uploads are limited to {_megabytes(limit)}."]}
    )


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size:,} bytes"
    return f"{size / (1024 * 1024):.1f} MB"


def _csv_records(text: IO[str]) -> tuple[list[str], Iterator[tuple[str, dict]]]:
    reader = csv.DictReader(text)
    header = [name.strip() for name in (reader.fieldnames or [])]
    reader.fieldnames = header

    def records() -> Iterator[tuple[str, dict]]:
        for index, row in enumerate(reader, start=1):
            yield f"Row {index}", row

    return header, records()


def _jsonl_record(line: str, number: int) -> tuple[dict | None, str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"Line {number}: not valid JSON ({exc.msg} at column {exc.colno})."
    if not isinstance(record, dict):
        return None, f"Line {number}: must be a JSON object with one key per column."
    return record, ""


def _jsonl_records(text: IO[str]) -> tuple[set[str], list[tuple[str, dict]]]:
    # The columns are every key seen, so the records are kept (the size limit bounds them).
    records, problems, seen = [], [], set()
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        record, problem = _jsonl_record(line, number)
        if record is None:
            problems.append(problem)
            continue
        seen.update(record)
        records.append((f"Line {number}", record))
    if problems:
        extra = len(problems) - MAX_LISTED_PROBLEMS
        raise DatasetError(
            {
                "file": problems[:MAX_LISTED_PROBLEMS]
                + ([f"…and {extra} more lines."] if extra > 0 else [])
            }
        )
    return seen, records


def _file_features(
    present: Iterable[str], features: list[FeatureSpec] | None, label_column: str
) -> list[FeatureSpec]:
    present = list(present)
    if not present:
        raise DatasetError({"file": ["The file is empty."]})
    if features is None:
        features = [FeatureSpec(name) for name in present if name != label_column]
        if not features:
            raise DatasetError({"file": ["The file has no feature columns besides the label."]})
    _check_columns(present, features=features, label_column=label_column)
    if label_column in {spec.name for spec in features}:
        raise DatasetError({"label_column": [f"'{label_column}' is a feature, not a label."]})
    return features


def rows_from_file(
    handle: IO[bytes],
    *,
    file_format: str,
    features: list[FeatureSpec] | None,
    label_column: str,
    binary_label: bool = False,
    max_rows: int | None = None,
    task: str = "",
) -> Rows:
    """An uploaded CSV or JSONL file, read as a stream of lines (never whole into memory).
    With features=None every other column is a numeric feature."""
    text = io.TextIOWrapper(
        handle, encoding="utf-8-sig", newline="" if file_format == "csv" else None
    )
    try:
        if file_format == "csv":
            present, records = _csv_records(text)
        else:
            present, records = _jsonl_records(text)
        features = _file_features(present, features, label_column)
        rows = rows_from_records(
            records,
            features=features,
            label_column=label_column,
            binary_label=binary_label,
            max_rows=max_rows,
            task=task,
        )
    except UnicodeDecodeError:
        raise DatasetError({"file": ["The file is not UTF-8 text."]}) from None
    finally:
        # The upload stays open: the caller stores it after the rows are checked.
        text.detach()
    if rows.row_count == 0:
        raise DatasetError({"file": ["The file has a header but no rows."]})
    return rows


# --- a group's decision log ---------------------------------------------------------------


def rows_from_decision_log(
    *,
    log_model: Any,
    group_name: str,
    features: list[FeatureSpec],
    start: datetime | None,
    end: datetime | None,
    role: str = "",
    model_version_id: int | None = None,
    binary_label: bool = False,
    task: str = "",
) -> Rows:
    """Rows of a group's inference table that have an outcome, oldest first."""
    logged = log_model.objects.filter(outcome__isnull=False)
    if start:
        logged = logged.filter(created_at__gte=start)
    if end:
        logged = logged.filter(created_at__lt=end)
    if role:
        logged = logged.filter(role=role)
    if model_version_id:
        logged = logged.filter(model_version_id=model_version_id)
    logged = logged.order_by("created_at", "id").values_list("id", "inputs", "outcome")

    def records() -> Iterator[tuple[str, dict]]:
        for row_id, inputs, outcome in logged.iterator(chunk_size=2000):
            record = dict(inputs) if isinstance(inputs, dict) else {}
            record[DECISION_LOG_LABEL] = outcome
            yield f"Log row {row_id}", record

    rows = rows_from_records(
        records(),
        features=features,
        label_column=DECISION_LOG_LABEL,
        binary_label=binary_label,
        field="dataset",
        task=task,
    )
    if rows.row_count == 0:
        window = _window_text(start, end)
        narrowed = " matching the filter" if role or model_version_id else ""
        raise DatasetError(
            {
                "dataset": [
                    f"The decision log of '{group_name}' has no predictions with a recorded "
                    f"outcome{narrowed}{window}. Record outcomes through the feedback API, or "
                    "widen the time window."
                ]
            }
        )
    return rows


def _window_text(start: datetime | None, end: datetime | None) -> str:
    if start and end:
        return f" between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
    if start:
        return f" since {start:%Y-%m-%d %H:%M} UTC"
    if end:
        return f" before {end:%Y-%m-%d %H:%M} UTC"
    return ""


# --- checks a trainer needs, and the snapshot file ----------------------------------------


def _class_counts_text(counts: pd.Series) -> str:
    return ", ".join(f"{_label_text(k)}: {int(v)} rows" for k, v in counts.items())


def _label_text(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _check_classes(rows: Rows, task: str, field: str) -> None:
    """Binary: exactly 2 classes; multiclass: 3 or more; each at least twice (so the
    stratified hold-out has every class on both sides)."""
    column = rows.label_column
    counts = rows.frame[column].value_counts()
    if task == BINARY:
        if len(counts) == 2 and counts.min() >= 2:
            return
        message = (
            f"The label '{column}' needs both classes (0 and 1), each at least twice; found "
            f"{_class_counts_text(counts)}."
        )
    else:
        if len(counts) >= MIN_CLASSES[MULTICLASS] and counts.min() >= 2:
            return
        message = (
            f"The label '{column}' of a multiclass model needs at least 3 classes, each at "
            f"least twice; found {len(counts)} class{'es' if len(counts) != 1 else ''}: "
            f"{_class_counts_text(counts)}."
        )
        if len(counts) == 2:
            message += " Two classes make a binary classification model."
    raise DatasetError({field: [message]})


def _check_numeric_label(rows: Rows, field: str) -> None:
    column = rows.label_column
    values = pd.to_numeric(rows.frame[column], errors="coerce")
    if values.isna().any():
        bad = rows.frame[column][values.isna()].head(3).tolist()
        raise DatasetError(
            {
                field: [
                    f"The label '{column}' of a regression model must be numeric; found "
                    + ", ".join(repr(v) for v in bad)
                    + "."
                ]
            }
        )
    if values.nunique() < 2:
        raise DatasetError(
            {
                field: [
                    f"The label '{column}' of a regression model must vary; every row has "
                    f"{_label_text(float(values.iloc[0]))}."
                ]
            }
        )


def check_trainable(
    rows: Rows, *, binary_label: bool = False, task: str = "", field: str = "dataset"
) -> None:
    """Enough rows, and a label that fits the task (registry Task value; binary_label=True
    is the binary task): the error names the label column and says what was found."""
    if rows.row_count < MIN_ROWS:
        raise DatasetError(
            {
                field: [
                    f"Only {rows.row_count} rows: a job needs at least {MIN_ROWS} to train and hold some out."
                ]
            }
        )
    task = _label_task(task, binary_label)
    if task in MIN_CLASSES:
        _check_classes(rows, task, field)
    elif task == REGRESSION:
        _check_numeric_label(rows, field)


def snapshot_bytes(rows: Rows) -> tuple[bytes, str]:
    """The rows as CSV (features in order, then the label) and its sha256."""
    content = rows.frame.to_csv(index=False, lineterminator="\n").encode()
    return content, hashlib.sha256(content).hexdigest()


def read_snapshot(
    handle: IO[bytes], *, features: list[FeatureSpec], label_column: str
) -> pd.DataFrame:
    text_columns = {spec.name: str for spec in features if spec.type not in NUMERIC_TYPES}
    return pd.read_csv(handle, dtype=text_columns or None, keep_default_na=not text_columns)
