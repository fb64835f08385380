"""Step 1 of an import: the upload (pasted text, files, or a document the API parsed) becomes
a list of (label, document), or an ImportRefused saying what is wrong with it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.errors import ServiceError

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 32
MAX_ITEMS = 50

JSON_TYPE_NAMES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    type(None): "null",
}


class ImportRefused(ServiceError):
    """The upload as a whole cannot be imported (400); `errors` names the field
    ("document", "files", "token", "task", "team")."""

    def __init__(self, message: str, *, field: str = "document"):
        super().__init__(message, {field: [message]})


@dataclass(frozen=True)
class ImportSource:
    """One uploaded file or the pasted text (`text`), or a document the API already parsed
    (`document`, with `text` left as None)."""

    label: str
    text: str | bytes | None = None
    document: Any = None


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def size_check(size: int, *, label: str = "The document", field: str = "document") -> None:
    """Refuse a document by its size, before it is read."""
    if size > MAX_DOCUMENT_BYTES:
        raise ImportRefused(
            f"{label} is {_megabytes(size)}; the limit is {MAX_DOCUMENT_BYTES // 1024 // 1024} MB.",
            field=field,
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_parse(text: str | bytes) -> Any:
    """Parse an uploaded document, or raise ImportRefused saying what is wrong with it."""
    size_check(len(text))
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportRefused("The document is not UTF-8 text; upload a JSON file.") from None
    if not text.strip():
        raise ImportRefused("The document is empty; paste or upload a JSON object.")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ImportRefused(
            f"The document is nested too deeply (the limit is {MAX_DEPTH} levels)."
        ) from None
    except ValueError as exc:
        raise ImportRefused(f"The document is not valid JSON: {exc}.") from None


def depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _source_value(source: ImportSource, *, alone: bool) -> Any:
    try:
        value = json_parse(source.text) if source.text is not None else source.document
    except ImportRefused as exc:
        if alone:
            raise
        raise ImportRefused(f"{source.label}: {exc.message}") from None
    if depth_exceeds(value, MAX_DEPTH):
        raise ImportRefused(
            f"{source.label}: the document is nested more than {MAX_DEPTH} levels deep."
        )
    return value


def _source_documents(source: ImportSource, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [(source.label, value)]
    if isinstance(value, list):
        if not value:
            raise ImportRefused(f"{source.label}: the array holds no documents.")
        return [(f"{source.label}, item {i}", item) for i, item in enumerate(value, 1)]
    kind = JSON_TYPE_NAMES.get(type(value), "not an object")
    raise ImportRefused(
        f"{source.label}: the document must be a JSON object (or an array of objects); this is {kind}."
    )


def documents(sources: list[ImportSource]) -> list[tuple[str, Any]]:
    """(label, document) for every document in the upload; a JSON array counts as a batch."""
    if not sources:
        raise ImportRefused("Paste a JSON document or choose at least one file.")
    out: list[tuple[str, Any]] = []
    for source in sources:
        out.extend(_source_documents(source, _source_value(source, alone=len(sources) == 1)))
    if len(out) > MAX_ITEMS:
        raise ImportRefused(
            f"The upload holds {len(out)} documents; import at most {MAX_ITEMS} at a time."
        )
    return out
