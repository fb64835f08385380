"""Streaming CSV for inference logs (the browser's filtered export, an archived table's
download): one line at a time, never the whole export in memory."""

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any


class _Line:
    """A file-like object csv.writer writes one line into, handed on at once."""

    def write(self, value: str) -> str:
        return value


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection):
# such a text cell is written with a leading single quote, which shows it as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list | bool):
        return neutralised(json.dumps(value, separators=(",", ":")))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return neutralised(value)
    return value


def csv_stream(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow([neutralised(name) for name in header])
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])
