"""Tracing a mapping we did not make ourselves (an LLM's answer) back to the source document."""

import re
from typing import Any

from registry.remap.vocabulary import SYNONYMS, VALUE_SYNONYMS, coerce_number, normalise_key
from registry.remap.walker import DroppedKey, KeyMove, join_path


def trace(source: Any, mapped: Any) -> tuple[list[KeyMove], list[DroppedKey], list[str]]:
    """Where each value of `mapped` came from in `source`, for a mapping we did not make
    ourselves (the LLM's): values are matched by content (numbers equal, "0.91" equals 0.91,
    "float" equals "numeric"), keys by name when a value occurs more than once.

    Returns the moves, the source values that appear nowhere in `mapped` (dropped), and the
    `mapped` values found nowhere in `source`: the ones the LLM added, to be checked."""
    by_value: dict[Any, list[str]] = {}
    source_leaves = list(_leaves(source, ""))
    for path, value in source_leaves:
        by_value.setdefault(_canon(value), []).append(path)
    by_key: dict[Any, list[str]] = {}
    for path, key in _keys(source, ""):
        by_key.setdefault(_canon(key), []).append(path)

    moves: list[KeyMove] = []
    used: set[str] = set()
    added: list[str] = []
    for path, value in _leaves(mapped, ""):
        candidates = by_value.get(_canon(value), [])
        detail = ""
        if not candidates and isinstance(value, str):
            candidates, detail = by_key.get(_canon(value), []), "a key in the source"
        if not candidates:
            added.append(_wild(path))
            continue
        last = normalise_key(_last(path))
        ranked = sorted(
            candidates,
            key=lambda c: (
                normalise_key(_last(c)) != last
                and last not in SYNONYMS.get(normalise_key(_last(c)), ()),
                c in used,
            ),
        )
        chosen = ranked[0]
        used.add(chosen)
        moves.append(KeyMove(_wild(chosen), _wild(path), detail))
    used_wild = {_wild(p) for p in used}
    dropped = [
        DroppedKey(_wild(p), "not found in the mapped document")
        for p, _ in source_leaves
        if _wild(p) not in used_wild
    ]
    return list(dict.fromkeys(moves)), list(dict.fromkeys(dropped)), list(dict.fromkeys(added))


def _leaves(value: Any, path: str):
    # A list of scalars (a curve, a category list) is one value, not many.
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, join_path(path, str(key)))
    elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _keys(value: Any, path: str):
    if isinstance(value, dict):
        for key, item in value.items():
            yield join_path(path, str(key)), key
            yield from _keys(item, join_path(path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _keys(item, f"{path}[{i}]")


def _canon(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return ("c", value)
    number = (
        coerce_number(value)
        if not isinstance(value, str) or not value.strip().endswith("%")
        else None
    )
    if number is not None:
        return ("n", round(float(number), 9))
    if isinstance(value, str):
        norm = normalise_key(value)
        return ("s", VALUE_SYNONYMS.get(norm, norm) if norm else value)
    if isinstance(value, list):
        return ("l", tuple(_canon(item) for item in value))
    if isinstance(value, dict):
        return ("d",)
    return ("o", repr(value))


_INDEX = re.compile(r"\[\d+\]")


def _wild(path: str) -> str:
    return _INDEX.sub("[]", path)


def _last(path: str) -> str:
    return re.split(r"[.\[\]]+", path.rstrip("]"))[-1] if path else ""
