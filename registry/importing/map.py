"""Step 2 of an import: a document onto the metadata schema, as it is if it is valid, else
through the active LLM provider (the schema verbatim, the validation errors sent back, at
most LLM_ATTEMPTS answers), else (or when the provider fails) the deterministic remapper."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from providers.clients import ProviderError, structured_completion
from registry import remap as remapper
from registry.models import MappingMethod
from registry.schema import METADATA_SCHEMA, validate_metadata

# Larger documents are not sent to a provider (cost, context windows): the heuristic maps them.
LLM_MAX_CHARS = 200_000
LLM_ATTEMPTS = 3

LLM_INSTRUCTIONS = (
    "You convert the metadata document of a machine-learning model into Model Hub's metadata "
    "format. Answer with one JSON object that is valid against the JSON Schema you are given.\n"
    "- Move every value of the document to the schema field that means the same thing: "
    "for example 'model_performance', 'performance' or 'scores' are 'metrics'; 'auc' or "
    "'roc_auc' is 'auc_roc'; 'inputs' or 'columns' are 'features'.\n"
    "- Keep the model's name, version label and task if the document gives them.\n"
    "- Write numbers as JSON numbers, never as strings.\n"
    "- Never invent a value the document does not contain; leave out what has no place in "
    "the schema."
)


@dataclass(frozen=True)
class KeyMoveRow:
    source: str
    target: str
    detail: str = ""


@dataclass(frozen=True)
class DroppedRow:
    source: str
    reason: str


@dataclass(frozen=True)
class LlmAttempt:
    attempt: int
    problems: list[str]


@dataclass
class Mapping:
    document: dict
    method: str
    notes: list[str] = field(default_factory=list)
    moves: list[KeyMoveRow] = field(default_factory=list)
    dropped: list[DroppedRow] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    attempts: list[LlmAttempt] = field(default_factory=list)
    provider: Any = None


def _issue_lines(issues: list) -> list[str]:
    return [f"{issue.path}: {issue.message}" for issue in issues]


def _retry_instructions(answer: Any, lines: list[str]) -> str:
    previous = json.dumps(answer)
    return (
        f"{LLM_INSTRUCTIONS}\n\nYour previous answer did not validate against the schema. "
        "Answer again with the whole document, fixing these problems:\n"
        + "\n".join(f"- {line}" for line in lines)
        + (
            f"\n\nYour previous answer was:\n{previous}"
            if len(previous) <= LLM_MAX_CHARS // 4
            else ""
        )
    )


def llm_remap(provider: Any, document: dict) -> tuple[dict | None, list[LlmAttempt], str]:
    """(the valid answer or None, one entry per attempt, why it failed)."""
    attempts: list[LlmAttempt] = []
    instructions = LLM_INSTRUCTIONS
    for attempt in range(1, LLM_ATTEMPTS + 1):
        try:
            answer = structured_completion(
                provider, instructions=instructions, payload=document, json_schema=METADATA_SCHEMA
            )
        except ProviderError as exc:
            attempts.append(LlmAttempt(attempt, [str(exc)]))
            return None, attempts, f"the provider failed: {exc}"
        lines = _issue_lines(validate_metadata(answer))
        attempts.append(LlmAttempt(attempt, lines))
        if not lines:
            return answer, attempts, ""
        instructions = _retry_instructions(answer, lines)
    last = attempts[-1].problems
    return (
        None,
        attempts,
        (
            f"the LLM's {LLM_ATTEMPTS} answers were all invalid (last: {'; '.join(last[:3])}"
            f"{'…' if len(last) > 3 else ''})"
        ),
    )


def _move_rows(moves: list[remapper.KeyMove]) -> list[KeyMoveRow]:
    return [KeyMoveRow(m.source, m.target, m.detail) for m in moves]


def _drop_rows(dropped: list[remapper.DroppedKey]) -> list[DroppedRow]:
    return [DroppedRow(d.source, d.reason) for d in dropped]


def _llm_mapping(
    document: dict, answer: dict, provider: Any, attempts: list[LlmAttempt]
) -> Mapping:
    moves, dropped, unverified = remapper.trace(document, answer)
    notes = [
        f"The document did not follow the schema; {provider.name} ({provider.default_model}) remapped it"
        f" in {len(attempts)} attempt{'s' if len(attempts) != 1 else ''}."
    ]
    if unverified:
        notes.append(
            "Some values of the LLM's answer are not in the document as such (check them): "
            + ", ".join(unverified[:10])
            + ("…" if len(unverified) > 10 else "")
        )
    return Mapping(
        answer,
        MappingMethod.LLM,
        notes,
        _move_rows(moves),
        _drop_rows(dropped),
        unverified,
        attempts,
        provider,
    )


def map_document(document: dict, provider: Any) -> Mapping:
    if not validate_metadata(document):
        return Mapping(
            copy.deepcopy(document),
            MappingMethod.AS_IS,
            ["The document follows the schema as it is."],
        )
    notes: list[str] = []
    attempts: list[LlmAttempt] = []
    if provider is None:
        notes.append(
            "No active LLM provider is connected, so the heuristic remapper mapped the document."
        )
    elif len(json.dumps(document)) > LLM_MAX_CHARS:
        notes.append(
            f"The document is larger than {LLM_MAX_CHARS // 1000} kB, too large to send to "
            f"{provider.name}; the heuristic remapper mapped it."
        )
    else:
        answer, attempts, failure = llm_remap(provider, document)
        if answer is not None:
            return _llm_mapping(document, answer, provider, attempts)
        notes.append(f"{failure[0].upper()}{failure[1:]}; fell back to the heuristic remapper.")
    result = remapper.remap(document, METADATA_SCHEMA)
    return Mapping(
        result.document,
        MappingMethod.HEURISTIC,
        notes,
        _move_rows(result.moves),
        _drop_rows(result.dropped),
        [],
        attempts,
    )
