"""A batch job's files, read and written in streams (pyarrow): the input's columns (checked
before the job is queued), the input cut into chunk files, each chunk's result, and the
result streamed back in input order in the asked format.

Files live in Django's default storage under `batches/<job id>/`, so workers on other
machines read what the web process saved. CSV and JSON Lines inputs are read as text
(their cells are parsed feature by feature, a bad cell failing only its row); Parquet
keeps its types.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from inference.csv_stream import FORMULA_STARTS, neutralised

CSV_BLOCK_BYTES = 4 * 1024 * 1024
RESULT_ROW_GROUP_ROWS = 128 * 1024
# The JSON Lines reader marks a line that is not a JSON object in this hidden column.
PARSE_ERROR = "__batch_parse_error__"


class UnreadableFile(ValueError):
    """The file cannot be read as the format it claims: the message says why."""


def job_dir(job_id: object) -> str:
    return f"batches/{job_id}"


def input_name(job_id: object, fmt: str) -> str:
    return f"{job_dir(job_id)}/input.{fmt}"


# A job's own working files (its input cut into chunks, each chunk's result part) are Arrow
# IPC streams: written and read back without encoding (Parquet's encoding cost ~5 ms a
# chunk each way, and they are read once). Parquet is for the result the user downloads.
def chunk_name(job_id: object, index: int) -> str:
    return f"{job_dir(job_id)}/chunks/{index:06d}.arrow"


def part_name(job_id: object, index: int) -> str:
    return f"{job_dir(job_id)}/parts/{index:06d}.arrow"


def resumed_at(job_id: object) -> datetime | None:
    """When the job was last resumed (batch_resume_stalled), if ever."""
    name = f"{job_dir(job_id)}/resumed"
    return default_storage.get_modified_time(name) if default_storage.exists(name) else None


def resumed_mark(job_id: object) -> None:
    save(f"{job_dir(job_id)}/resumed", b"")


def save(name: str, content: bytes | IO[bytes]) -> None:
    """Write `name`, replacing any earlier copy (a redone chunk writes the same bytes)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    body = ContentFile(content) if isinstance(content, bytes) else content
    saved = default_storage.save(name, body)
    assert saved == name, f"storage renamed {name} to {saved}"


def delete_job_files(job_id: object) -> None:
    for name in _tree(job_dir(job_id)):
        default_storage.delete(name)


def _tree(folder: str) -> list[str]:
    if not default_storage.exists(folder):
        return []
    dirs, files = default_storage.listdir(folder)
    return [f"{folder}/{f}" for f in files] + [n for d in dirs for n in _tree(f"{folder}/{d}")]


# --- the input's columns (before queueing) --------------------------------------------------


def input_columns(fh: IO[bytes], fmt: str) -> tuple[list[str], int | None]:
    """The input's column names and, when the format says so cheaply, its row count.
    Reads the header (CSV), the first line (JSON Lines) or the footer (Parquet) only."""
    try:
        if fmt == "parquet":
            meta = pq.ParquetFile(fh)
            return list(meta.schema_arrow.names), meta.metadata.num_rows
        first = fh.readline()
        fh.seek(0)
        if fmt == "jsonl":
            row = orjson.loads(first)
            if not isinstance(row, dict):
                raise UnreadableFile("The first line is not a JSON object of column -> value.")
            return list(row), None
        header = next(csv.reader([first.decode("utf-8-sig").rstrip("\r\n")]), [])
        return [name.strip() for name in header], None
    except (orjson.JSONDecodeError, UnicodeDecodeError, pa.ArrowException, OSError) as exc:
        raise UnreadableFile(f"This is not a readable {fmt.upper()} file: {exc}") from exc


# --- cutting the input into chunks ----------------------------------------------------------


class _InvalidRows:
    """pyarrow's invalid_row_handler: a line with the wrong number of fields is skipped by
    the reader and remembered here as (0-based data row, reason), in file order, to come
    back as a row with its error (files.PARSE_ERROR). The reader numbers lines from 1 at
    the header, blank lines not counted (as they are no row), when it reads on one thread."""

    def __init__(self) -> None:
        self.found: deque[tuple[int, str]] = deque()

    def __call__(self, row: Any) -> str:
        reason = (
            f"the line has {row.actual_columns} field(s) where the header has "
            f"{row.expected_columns}"
        )
        self.found.append((row.number - 2, reason))
        return "skip"


def _placeholders(schema: pa.Schema, reasons: list[str]) -> pa.RecordBatch:
    arrays = [pa.nulls(len(reasons), field.type) for field in schema]
    return pa.RecordBatch.from_arrays(
        [*arrays, pa.array(reasons, pa.string())], names=[*schema.names, PARSE_ERROR]
    )


def _due(invalid: deque[tuple[int, str]], position: int) -> list[str]:
    """The reasons of the invalid rows that come next, at `position` and after it."""
    reasons = []
    while invalid and invalid[0][0] <= position + len(reasons):
        reasons.append(invalid.popleft()[1])
    return reasons


def _merged(
    batches: Iterator[pa.RecordBatch], invalid: deque[tuple[int, str]], schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """The reader's rows with the skipped ones put back in their place. Every invalid row
    before the end of a batch is known when the batch arrives (the handler runs as the
    batch's block is parsed), so a row is placed before the valid rows that follow it."""
    position = 0
    for batch in batches:
        batch = pa.RecordBatch.from_arrays(
            [*batch.columns, pa.nulls(batch.num_rows, pa.string())],
            names=[*batch.schema.names, PARSE_ERROR],
        )
        start = 0
        while True:
            reasons = _due(invalid, position)
            if reasons:
                yield _placeholders(schema, reasons)
                position += len(reasons)
            take = batch.num_rows - start
            if invalid:
                take = min(take, invalid[0][0] - position)
            if take <= 0:
                break
            yield batch.slice(start, take)
            start, position = start + take, position + take
    if invalid:
        yield _placeholders(schema, [reason for _, reason in invalid])


def _csv_batches(fh: IO[bytes], columns: list[str]) -> Iterator[pa.RecordBatch]:
    invalid = _InvalidRows()
    reader = pacsv.open_csv(
        fh,
        # One thread: the invalid-row handler is then told each line's number.
        read_options=pacsv.ReadOptions(
            block_size=CSV_BLOCK_BYTES, encoding="utf8", use_threads=False
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=invalid),
        # Every cell as text: a bad number fails its row, not the file (batch/scoring.py).
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in columns}, strings_can_be_null=False
        ),
    )
    yield from _merged(reader, invalid.found, reader.schema)


def _json_cell(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _jsonl_batches(fh: IO[bytes], columns: list[str], rows: int) -> Iterator[pa.RecordBatch]:
    def batch(lines: list[bytes]) -> pa.RecordBatch:
        values: dict[str, list] = {name: [] for name in [*columns, PARSE_ERROR]}
        for number, line in lines:
            try:
                row = orjson.loads(line)
                problem = None if isinstance(row, dict) else "the line is not a JSON object"
            except orjson.JSONDecodeError as exc:
                row, problem = {}, f"line {number}: not JSON ({exc})"
            row = row if isinstance(row, dict) else {}
            for name in columns:
                values[name].append(_json_cell(row.get(name)))
            values[PARSE_ERROR].append(problem)
        return pa.RecordBatch.from_pydict(
            {name: pa.array(v, type=pa.string()) for name, v in values.items()}
        )

    pending: list = []
    for number, line in enumerate(fh, start=1):
        if not line.strip():
            continue  # a blank line (the trailing newline) is no row
        pending.append((number, line))
        if len(pending) == rows:
            yield batch(pending)
            pending = []
    if pending:
        yield batch(pending)


def input_batches(
    fh: IO[bytes], fmt: str, columns: list[str], rows: int
) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        return pq.ParquetFile(fh).iter_batches(batch_size=rows)
    if fmt == "jsonl":
        return _jsonl_batches(fh, columns, rows)
    return _csv_batches(fh, columns)


def chunk_tables(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Record batches of any size regrouped into tables of exactly `rows` rows (the last
    one: what is left), holding at most one chunk and one batch in memory."""
    held: list[pa.RecordBatch] = []
    count = 0
    for record_batch in batches:
        while record_batch.num_rows:
            take = min(rows - count, record_batch.num_rows)
            held.append(record_batch.slice(0, take))
            record_batch = record_batch.slice(take)
            count += take
            if count == rows:
                yield pa.Table.from_batches(held)
                held, count = [], 0
    if count:
        yield pa.Table.from_batches(held)


def table_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_read(name: str) -> pa.Table:
    with default_storage.open(name, "rb") as fh:
        return pa.ipc.open_stream(fh.read()).read_all()


def _table_schema(name: str) -> pa.Schema:
    with default_storage.open(name, "rb") as fh:
        return pa.ipc.open_stream(fh).schema


# --- the result, streamed --------------------------------------------------------------------


class _Drain(io.RawIOBase):
    """A sink that hands on what was written since the last drain (streamed Parquet)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def _result_schema(names: list[str]) -> pa.Schema:
    schemas = [_table_schema(name) for name in names]
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except pa.ArrowException:
        # Members answering in label types that do not mix: text keeps every value.
        base = schemas[0]
        return pa.schema([pa.field(f.name, pa.string()) for f in base])


def _neutralise(table: pa.Table) -> pa.Table:
    """CSV injection: text cells that a spreadsheet would run as a formula get a leading
    quote (inference/csv_stream.py's rule, applied a column at a time)."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.starts_with(column, FORMULA_STARTS[0])
            for start in FORMULA_STARTS[1:]:
                risky = pc.or_kleene(risky, pc.starts_with(column, start))
            risky = pc.fill_null(risky, False)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    names = [neutralised(name) for name in table.column_names]
    return pa.Table.from_arrays(columns, names=names)


def _csv_part(table: pa.Table, header: bool) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(
        _neutralise(table), sink, write_options=pacsv.WriteOptions(include_header=header)
    )
    return sink.getvalue()


def _jsonl_part(table: pa.Table) -> bytes:
    return b"".join(orjson.dumps(row) + b"\n" for row in table.to_pylist())


def _parts(names: list[str], schema: pa.Schema) -> Iterator[pa.Table]:
    for name in names:
        yield table_read(name).select(schema.names).cast(schema)


def _parquet_stream(parts: Iterator[pa.Table], schema: pa.Schema) -> Iterator[bytes]:
    """Parts gathered into row groups of about RESULT_ROW_GROUP_ROWS rows (readers scan
    a few large row groups faster than many chunk-sized ones)."""
    drain = _Drain()
    held: list[pa.Table] = []
    with pq.ParquetWriter(drain, schema) as writer:
        for table in parts:
            held.append(table)
            if sum(t.num_rows for t in held) >= RESULT_ROW_GROUP_ROWS:
                writer.write_table(pa.concat_tables(held), row_group_size=RESULT_ROW_GROUP_ROWS)
                held = []
                yield drain.drain()
        if held:
            writer.write_table(pa.concat_tables(held), row_group_size=RESULT_ROW_GROUP_ROWS)
    yield drain.drain()


def result_stream(job_id: object, chunks: int, fmt: str) -> Iterator[bytes]:
    """The result, one chunk's part at a time (Parquet: a row group at a time), in input
    order."""
    names = [part_name(job_id, i) for i in range(chunks)]
    schema = _result_schema(names) if names else pa.schema([])
    if fmt == "parquet":
        yield from _parquet_stream(_parts(names, schema), schema)
        return
    for index, table in enumerate(_parts(names, schema)):
        yield _csv_part(table, header=index == 0) if fmt == "csv" else _jsonl_part(table)
