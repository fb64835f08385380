"""A chunk's feature cells parsed column by column (pure: pyarrow, numpy, pandas; no Django).

Each feature becomes one array, and each row that has a missing, unparseable or non-finite
value gets a reason naming the field ("income: 'abc' is not a number"). Numeric and
integer features become float64; boolean ones bool; categorical and text ones stay text.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from inference.inputs import shown

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_NAN_TEXT = {"nan", "+nan", "-nan"}


# Only the rows that fail have reasons: {row in the chunk: [reason, ...]}. Built sparse, so
# a chunk of good rows costs no Python object per row.
Reasons = dict[int, list[str]]


@dataclass
class ParsedChunk:
    values: dict[str, np.ndarray]  # feature -> one value per row (meaningless where failed)
    errors: Reasons  # the rows that cannot be predicted, and why
    rows: int
    ok: np.ndarray  # bool per row: no reason

    def reason(self, row: int) -> str:
        return "; ".join(self.errors.get(row, ()))

    def reasons(self) -> np.ndarray:
        """One text per row, "" where the row is fine (the result's `error` column)."""
        out = np.full(self.rows, "", dtype=object)
        for row, found in self.errors.items():
            out[row] = "; ".join(found)
        return out


def _note(errors: Reasons, mask: np.ndarray, message: object) -> None:
    for i in np.flatnonzero(mask):
        errors.setdefault(int(i), []).append(message(i) if callable(message) else message)


def _text(column: pa.ChunkedArray) -> pd.Series:
    series = column.to_pandas()
    return series.astype(object).where(series.notna(), None)


def _numeric(name: str, column: pa.ChunkedArray, kind: str, errors: Reasons) -> np.ndarray:
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        # The common case, every cell a number: one cast, no cell-by-cell work.
        with contextlib.suppress(pa.ArrowInvalid):
            column = column.cast(pa.float64())
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(float)
        missing = column.is_null().to_numpy(zero_copy_only=False)
        bad = np.zeros(len(values), dtype=bool)
        raw = None
    else:
        raw = _text(column if not pa.types.is_boolean(column.type) else column.cast(pa.string()))
        stripped = raw.str.strip()
        missing = stripped.isna().to_numpy() | (stripped == "").to_numpy()
        nan_text = stripped.str.lower().isin(_NAN_TEXT).to_numpy(bool)
        values = pd.to_numeric(stripped.where(~missing, None), errors="coerce").to_numpy(float)
        bad = np.isnan(values) & ~missing & ~nan_text
    non_finite = ~np.isfinite(values) & ~missing & ~bad
    _note(errors, missing, f"{name}: missing")
    if raw is not None:
        _note(errors, bad, lambda i: f"{name}: {shown(raw.iat[i])} is not a number")
    _note(errors, non_finite, f"{name}: must be a finite number")
    if kind == "integer":
        fine = ~missing & ~bad & ~non_finite
        fractional = fine & (np.nan_to_num(values) != np.round(np.nan_to_num(values)))
        _note(errors, fractional, lambda i: f"{name}: must be a whole number, got {values[i]}")
    return values


def _boolean(name: str, column: pa.ChunkedArray, errors: Reasons) -> np.ndarray:
    if pa.types.is_boolean(column.type):
        missing = column.is_null().to_numpy(zero_copy_only=False)
        _note(errors, missing, f"{name}: missing")
        return column.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    raw = _text(column.cast(pa.string()))
    lowered = raw.map(lambda v: v.strip().lower() if isinstance(v, str) else None)
    missing = lowered.isna().to_numpy() | (lowered == "").to_numpy()
    truthy = lowered.isin(_TRUE).to_numpy()
    bad = ~missing & ~truthy & ~lowered.isin(_FALSE).to_numpy()
    _note(errors, missing, f"{name}: missing")
    _note(errors, bad, lambda i: f"{name}: {shown(raw.iat[i])} is not true or false")
    return truthy


def _categorical(name: str, column: pa.ChunkedArray, spec: dict, errors: Reasons) -> np.ndarray:
    raw = _text(column if pa.types.is_string(column.type) else column.cast(pa.string()))
    missing = raw.isna().to_numpy() | (raw == "").to_numpy()
    _note(errors, missing, f"{name}: missing")
    categories = spec.get("categories")
    if categories and spec.get("type") == "categorical":
        allowed = {str(c) for c in categories}
        unknown = ~missing & ~raw.isin(allowed).to_numpy()
        _note(errors, unknown, lambda i: f"{name}: {shown(raw.iat[i])} is not a category")
    return raw.to_numpy(object)


def parse_chunk(
    table: pa.Table, features: dict[str, dict], row_errors: dict[int, str] | None = None
) -> ParsedChunk:
    """Every feature of `features` ({name: metadata spec}) parsed from `table`'s columns;
    `row_errors`: reasons found before (a JSON Lines line that is not an object, a CSV line
    with the wrong number of fields), which are then the row's only reason: its cells are
    not the row's values."""
    errors: Reasons = {}
    values: dict[str, np.ndarray] = {}
    for name, spec in features.items():
        column = table.column(name)
        kind = spec.get("type", "numeric")
        if kind in ("numeric", "integer"):
            values[name] = _numeric(name, column, kind, errors)
        elif kind == "boolean":
            values[name] = _boolean(name, column, errors)
        else:
            values[name] = _categorical(name, column, spec, errors)
    for row, reason in (row_errors or {}).items():
        errors[row] = [reason]
    ok = np.ones(table.num_rows, dtype=bool)
    ok[list(errors)] = False
    return ParsedChunk(
        values=values, errors=dict(sorted(errors.items())), rows=table.num_rows, ok=ok
    )
