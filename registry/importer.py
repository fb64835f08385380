"""Flexible import: any reasonable JSON document becomes a model version, after a preview.

The one service behind the import page and the import API:

1. `import_preview` parses the upload (one document, a JSON array of them, or several files),
   refuses garbage with a clear message, and maps each document onto the metadata schema:
   as it is if it is valid; else through the active LLM provider (`structured_completion`
   with the schema verbatim, the validation errors sent back, at most three attempts); else,
   or when the provider fails, through the deterministic remapper (`registry.remap`). It then
   decides the model, task and version label, validates, and keeps the preview in the cache
   under a token. Nothing is written to the database.
2. `import_confirm` saves every ready item of a preview, each on its own, with the raw
   document and how it was mapped. A token confirms once; a second confirm returns the first
   outcome and saves nothing.
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from providers import selectors as provider_selectors
from providers.clients import ProviderError, structured_completion
from registry import remap as remapper
from registry.models import (
    Flavor,
    MappingMethod,
    ModelVersion,
    RegisteredModel,
    Task,
    VersionSource,
)
from registry.schema import METADATA_SCHEMA, validate_metadata
from registry.services import (
    RegistryValidationError,
    model_version_next_label,
    model_version_register,
    registered_model_create,
)

logger = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 32
MAX_ITEMS = 50
# Larger documents are not sent to a provider (cost, context windows): the heuristic maps them.
LLM_MAX_CHARS = 200_000
LLM_ATTEMPTS = 3
PREVIEW_TTL = timedelta(hours=1)
_CACHE_PREFIX = "registry:import:"
NEXT_FREE_LABEL = "the next free label"

METHOD_LABELS = {
    MappingMethod.AS_IS: "as is (the document already follows the schema)",
    MappingMethod.LLM: "remapped by the LLM",
    MappingMethod.HEURISTIC: "remapped by the heuristic remapper",
}

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

_REGRESSION_METRICS = ("rmse", "mae", "r2")
_CLASSIFIER_METRICS = ("auc_roc", "auc_pr", "log_loss", "brier")


class ImportRefused(Exception):
    """The upload as a whole cannot be imported; `errors` names the field ("document", "token")."""

    def __init__(self, message: str, *, field: str = "document"):
        self.message = message
        self.errors = {field: [message]}
        super().__init__(message)


@dataclass(frozen=True)
class ImportSource:
    """One uploaded file or the pasted text (`text`), or a document the API already parsed
    (`document`, with `text` left as None)."""

    label: str
    text: str | bytes | None = None
    document: Any = None


@dataclass(frozen=True)
class ImportOptions:
    """What the user typed next to the document; each, when given, wins over the document."""

    model_name: str = ""
    task: str = ""
    version: str = ""


# --- parsing ---------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_parse(text: str | bytes) -> Any:
    """Parse an uploaded document, or raise ImportRefused saying what is wrong with it."""
    size = len(text)
    if size > MAX_DOCUMENT_BYTES:
        raise ImportRefused(
            f"The document is {size / 1024 / 1024:.1f} MB; the limit is "
            f"{MAX_DOCUMENT_BYTES // 1024 // 1024} MB."
        )
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
        raise ImportRefused(f"The document is nested too deeply (the limit is {MAX_DEPTH} levels).") from None
    except ValueError as exc:
        raise ImportRefused(f"The document is not valid JSON: {exc}.") from None


def _depth_exceeds(value: Any, limit: int) -> bool:
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


_JSON_TYPE_NAMES = {bool: "a boolean", int: "a number", float: "a number", str: "a string", type(None): "null"}


def _documents(sources: list[ImportSource]) -> list[tuple[str, Any]]:
    """(label, document) for every document in the upload; a JSON array counts as a batch."""
    if not sources:
        raise ImportRefused("Paste a JSON document or choose at least one file.")
    out: list[tuple[str, Any]] = []
    for source in sources:
        try:
            value = json_parse(source.text) if source.text is not None else source.document
        except ImportRefused as exc:
            if len(sources) == 1:
                raise
            raise ImportRefused(f"{source.label}: {exc.message}") from None
        if _depth_exceeds(value, MAX_DEPTH):
            raise ImportRefused(f"{source.label}: the document is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(value, list):
            if not value:
                raise ImportRefused(f"{source.label}: the array holds no documents.")
            out.extend((f"{source.label}, item {i}", item) for i, item in enumerate(value, 1))
        elif isinstance(value, dict):
            out.append((source.label, value))
        else:
            kind = _JSON_TYPE_NAMES.get(type(value), "not an object")
            raise ImportRefused(
                f"{source.label}: the document must be a JSON object (or an array of objects); "
                f"this is {kind}."
            )
    if len(out) > MAX_ITEMS:
        raise ImportRefused(f"The upload holds {len(out)} documents; import at most {MAX_ITEMS} at a time.")
    return out


# --- mapping -------------------------------------------------------------------------------


@dataclass
class _Mapping:
    document: dict
    method: str
    notes: list[str]
    moves: list[dict]
    dropped: list[dict]
    unverified: list[str]
    attempts: list[dict]
    provider: Any = None


def _issue_lines(issues: list) -> list[str]:
    return [f"{issue.path}: {issue.message}" for issue in issues]


def _llm_remap(provider: Any, document: dict) -> tuple[dict | None, list[dict], str]:
    """(the valid answer or None, one entry per attempt, why it failed)."""
    attempts: list[dict] = []
    instructions = LLM_INSTRUCTIONS
    for attempt in range(1, LLM_ATTEMPTS + 1):
        try:
            answer = structured_completion(
                provider, instructions=instructions, payload=document, json_schema=METADATA_SCHEMA
            )
        except ProviderError as exc:
            attempts.append({"attempt": attempt, "problems": [str(exc)]})
            return None, attempts, f"the provider failed: {exc}"
        issues = validate_metadata(answer)
        attempts.append({"attempt": attempt, "problems": _issue_lines(issues)})
        if not issues:
            return answer, attempts, ""
        previous = json.dumps(answer)
        instructions = (
            f"{LLM_INSTRUCTIONS}\n\nYour previous answer did not validate against the schema. "
            "Answer again with the whole document, fixing these problems:\n"
            + "\n".join(f"- {line}" for line in _issue_lines(issues))
            + (f"\n\nYour previous answer was:\n{previous}" if len(previous) <= LLM_MAX_CHARS // 4 else "")
        )
    last = attempts[-1]["problems"]
    return None, attempts, (
        f"the LLM's {LLM_ATTEMPTS} answers were all invalid (last: {'; '.join(last[:3])}"
        f"{'…' if len(last) > 3 else ''})"
    )


def _map_document(document: dict, provider: Any) -> _Mapping:
    if not validate_metadata(document):
        return _Mapping(copy.deepcopy(document), MappingMethod.AS_IS,
                        ["The document follows the schema as it is."], [], [], [], [])
    notes: list[str] = []
    attempts: list[dict] = []
    if provider is None:
        notes.append("No active LLM provider is connected, so the heuristic remapper mapped the document.")
    elif len(json.dumps(document)) > LLM_MAX_CHARS:
        notes.append(
            f"The document is larger than {LLM_MAX_CHARS // 1000} kB, too large to send to "
            f"{provider.name}; the heuristic remapper mapped it."
        )
    else:
        answer, attempts, failure = _llm_remap(provider, document)
        model_name = provider.default_model
        if answer is not None:
            moves, dropped, unverified = remapper.trace(document, answer)
            notes.append(
                f"The document did not follow the schema; {provider.name} ({model_name}) remapped it"
                f" in {len(attempts)} attempt{'s' if len(attempts) != 1 else ''}."
            )
            if unverified:
                notes.append(
                    "Some values of the LLM's answer are not in the document as such (check them): "
                    + ", ".join(unverified[:10]) + ("…" if len(unverified) > 10 else "")
                )
            return _Mapping(
                answer, MappingMethod.LLM, notes,
                [_move_row(m) for m in moves], [_drop_row(d) for d in dropped], unverified, attempts,
                provider,
            )
        notes.append(f"{failure[0].upper()}{failure[1:]}; fell back to the heuristic remapper.")
    result = remapper.remap(document, METADATA_SCHEMA)
    return _Mapping(
        result.document, MappingMethod.HEURISTIC, notes,
        [_move_row(m) for m in result.moves], [_drop_row(d) for d in result.dropped], [], attempts,
    )


def _move_row(move: remapper.KeyMove) -> dict:
    return {"source": move.source, "target": move.target, "detail": move.detail}


def _drop_row(dropped: remapper.DroppedKey) -> dict:
    return {"source": dropped.source, "reason": dropped.reason}


# --- model, task and version ---------------------------------------------------------------


def _model_named(name: str) -> RegisteredModel | None:
    return RegisteredModel.objects.filter(Q(name__iexact=name) | Q(slug=slugify(name)[:200])).first()


def _inferred_task(document: dict) -> tuple[str, str]:
    metrics = document.get("metrics") if isinstance(document.get("metrics"), dict) else {}
    charts = document.get("charts") if isinstance(document.get("charts"), dict) else {}
    regression = [m for m in _REGRESSION_METRICS if m in metrics]
    if regression:
        return Task.REGRESSION, f"inferred from the metrics ({', '.join(regression)})"
    classifier = [m for m in _CLASSIFIER_METRICS if m in metrics] + [c for c in ("roc_curve",) if c in charts]
    if classifier:
        return Task.BINARY, f"inferred from {', '.join(classifier)}"
    return "", ""


def _bump(label: str) -> str:
    parts = label.split(".")
    if parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts)
    return f"{label}.1"


def _identity(document: dict, options: ImportOptions, reserved: dict[str, set[str]]) -> tuple[dict, list[tuple[str, str]]]:
    """Decide the model, the task and the version label, and say where each came from.

    Rules: a value typed in the form wins; then the document's; for an existing model the
    task is the model's (a document that says otherwise is refused); for a new one it may be
    inferred from the metrics; the version label, if neither gives one, is the next free one.
    """
    problems: list[tuple[str, str]] = []
    doc_name = document.get("name") if isinstance(document.get("name"), str) else ""
    name = options.model_name.strip() or doc_name.strip()
    name_from = "the form" if options.model_name.strip() else "the document" if name else ""
    model = _model_named(name) if name else None
    if not name:
        problems.append(("name", "is required: the document names no model; type a model name in the form"))
    elif not slugify(name):
        problems.append(("name", "needs at least one letter or digit"))

    doc_task = document.get("task") if isinstance(document.get("task"), str) else ""
    task, task_from = (options.task, "the form") if options.task else (doc_task, "the document") if doc_task else ("", "")
    if model is not None:
        if task and task != model.task:
            problems.append(("task", f"'{model.name}' is a {model.get_task_display().lower()} model; "
                                     f"{task_from} says {task}"))
        task, task_from = model.task, "the existing model"
    elif not task:
        task, task_from = _inferred_task(document)
        if not task:
            problems.append(("task", "is required for a new model: the document does not say it and "
                                     "the metrics do not tell; choose a task in the form"))

    doc_version = document.get("version")
    doc_version = str(doc_version).strip() if isinstance(doc_version, str | int | float) and not isinstance(doc_version, bool) else ""
    key = model.slug if model is not None else slugify(name)
    taken = reserved.setdefault(key, set())
    if options.version.strip() or doc_version:
        label = options.version.strip() or doc_version
        version_from = "the form" if options.version.strip() else "the document"
        if model is not None and ModelVersion.objects.filter(model=model, version=label).exists():
            problems.append(("version", f"{model.name} already has a version {label}"))
        elif label in taken:
            problems.append(("version", f"another document of this upload is also version {label}"))
    else:
        label = model_version_next_label(model=model) if model is not None else "1.0"
        while label in taken:
            label = _bump(label)
        version_from = NEXT_FREE_LABEL
    taken.add(label)
    identity = {
        "name": name,
        "name_from": name_from,
        "exists": model is not None,
        "slug": model.slug if model is not None else slugify(name),
        "url": model.get_absolute_url() if model is not None else "",
        "task": task,
        "task_label": Task(task).label if task in Task.values else task,
        "task_from": task_from,
        "version": label,
        "version_from": version_from,
        "flavor": Flavor.EXTERNAL if task == Task.TEXT_GENERATION else Flavor.SKLEARN,
    }
    return identity, problems


def _field_rows(document: dict, issues: list[tuple[str, str]]) -> list[dict]:
    """A validation status per field: each top-level field and each field of a section."""
    properties = list(METADATA_SCHEMA.get("properties", {}))
    paths: list[str] = []
    for key in [*properties, *(k for k in document if k not in properties)]:
        value = document.get(key)
        if key not in document and not any(p == key for p, _ in issues):
            continue
        if isinstance(value, dict) and value:
            paths.extend(f"{key}.{sub}" for sub in value)
        else:
            paths.append(key)
    rows = []
    claimed: set[int] = set()
    for path in paths:
        messages = []
        for i, (issue_path, message) in enumerate(issues):
            if remapper.path_under(issue_path, path):
                messages.append(message if issue_path == path else f"{issue_path}: {message}")
                claimed.add(i)
        status = "valid"
        if messages:
            status = "missing" if path not in _flat_keys(document) else "invalid"
        rows.append({"path": path, "status": status, "messages": messages})
    for i, (issue_path, message) in enumerate(issues):
        if i not in claimed:
            missing = message.startswith("is required")
            rows.append({"path": issue_path, "status": "missing" if missing else "invalid", "messages": [message]})
    return rows


def _flat_keys(document: dict) -> set[str]:
    keys = set(document)
    for key, value in document.items():
        if isinstance(value, dict):
            keys.update(f"{key}.{sub}" for sub in value)
    return keys


def _preview_item(index: int, label: str, document: Any, options: ImportOptions, provider: Any,
                  reserved: dict[str, set[str]]) -> dict:
    item: dict[str, Any] = {
        "index": index, "label": label, "status": "refused", "message": "", "method": "",
        "method_label": "", "provider_name": "", "llm_model": "", "notes": [], "attempts": [],
        "identity": {}, "document": None, "moves": [], "dropped": [], "unverified": [],
        "issues": [], "missing": [], "fields": [],
    }
    if not isinstance(document, dict):
        kind = _JSON_TYPE_NAMES.get(type(document), "a list")
        item["message"] = f"This item is {kind}, not a JSON object; it is skipped."
        return item
    mapping = _map_document(document, provider)
    mapped = mapping.document
    identity, identity_problems = _identity(mapped, options, reserved)
    # The saved metadata says the same as the version it describes.
    for key in ("name", "task", "version"):
        if identity[key]:
            mapped[key] = identity[key]
    issues = [(i.path, i.message) for i in validate_metadata(mapped)]
    issues += [p for p in identity_problems if p not in issues]
    issues.sort()
    ready = not issues
    missing = [path for path, message in issues if message.startswith("is required")]
    if ready:
        message = f"Ready: confirm to save {identity['name']} {identity['version']}."
    elif missing:
        message = "Cannot be imported: missing " + ", ".join(missing) + "."
    else:
        message = f"Cannot be imported: {len(issues)} problem{'s' if len(issues) != 1 else ''} left after mapping."
    item.update(
        status="ready" if ready else "invalid",
        message=message,
        method=str(mapping.method),
        method_label=METHOD_LABELS[mapping.method],
        provider_id=mapping.provider.pk if mapping.provider is not None else None,
        provider_name=mapping.provider.name if mapping.provider is not None else "",
        llm_model=mapping.provider.default_model if mapping.provider is not None else "",
        notes=mapping.notes,
        attempts=mapping.attempts,
        identity=identity,
        document=mapped,
        moves=mapping.moves,
        dropped=mapping.dropped,
        unverified=mapping.unverified,
        issues=[{"path": p, "message": m} for p, m in issues],
        missing=missing,
        fields=_field_rows(mapped, issues),
    )
    return item


# --- the two steps ---------------------------------------------------------------------------


def _key(token: str) -> str:
    return f"{_CACHE_PREFIX}{token}"


def import_preview(*, sources: list[ImportSource], options: ImportOptions | None = None, user: Any) -> dict:
    """Map the upload and keep the result for `import_confirm`. Raises ImportRefused for an
    upload that holds no usable JSON; a document that cannot be mapped is an item with status
    "invalid" and the list of what is missing. Writes nothing to the database."""
    options = options or ImportOptions()
    if options.task and options.task not in Task.values:
        raise ImportRefused(f"Task must be one of: {', '.join(Task.values)}.", field="task")
    documents = _documents(sources)
    provider = provider_selectors.active_provider()
    reserved: dict[str, set[str]] = {}
    items = [
        _preview_item(i, label, document, options, provider, reserved)
        for i, (label, document) in enumerate(documents, 1)
    ]
    ready = sum(1 for item in items if item["status"] == "ready")
    now = timezone.now()
    preview = {
        "token": None,
        "created_at": now.isoformat(),
        "expires_at": None,
        "ready_count": ready,
        "refused_count": len(items) - ready,
        "items": items,
    }
    if ready:
        token = secrets.token_urlsafe(24)
        preview["token"] = token
        preview["expires_at"] = (now + PREVIEW_TTL).isoformat()
        entry = {"user_id": getattr(user, "pk", None), "preview": preview,
                 "raw": [document for _, document in documents]}
        cache.set(_key(token), entry, timeout=int(PREVIEW_TTL.total_seconds()))
    return preview


def import_preview_get(*, token: str, user: Any) -> dict | None:
    entry = cache.get(_key(token)) if token else None
    if entry is None or entry["user_id"] != getattr(user, "pk", None):
        return None
    return entry["preview"]


@transaction.atomic
def _version_save(item: dict, raw: Any, *, token: str, user: Any) -> ModelVersion:
    identity = item["identity"]
    metadata = item["document"]
    model = _model_named(identity["name"])
    if model is None:
        model = registered_model_create(
            name=identity["name"], task=identity["task"], owner=user,
            description=metadata.get("description", "") if isinstance(metadata.get("description"), str) else "",
            tags=metadata.get("tags") or (),
        )
    label = identity["version"]
    if identity["version_from"] == NEXT_FREE_LABEL and ModelVersion.objects.filter(model=model, version=label).exists():
        # Someone saved this label since the preview; the rule still says "the next free one".
        label = model_version_next_label(model=model)
        metadata = {**metadata, "version": label}
    provider = None
    if item.get("provider_id"):
        from providers.models import Provider

        provider = Provider.objects.filter(pk=item["provider_id"]).first()
    report = {
        "import": token[:8],
        "source": item["label"],
        "method": item["method"],
        "notes": item["notes"],
        "attempts": item["attempts"],
        "moves": item["moves"],
        "dropped": item["dropped"],
        "unverified": item["unverified"],
        "identity": {k: identity[k] for k in ("name_from", "task_from", "version_from")},
    }
    return model_version_register(
        model=model,
        version=label,
        flavor=identity["flavor"],
        metadata=metadata,
        source=VersionSource.IMPORT,
        source_ref=f"import {token[:8]}",
        created_by=user,
        raw_document=raw,
        mapping_method=item["method"],
        mapping_provider=provider,
        mapping_model=item["llm_model"] if item["method"] == MappingMethod.LLM else "",
        mapping_report=report,
        description=metadata.get("description", "") if isinstance(metadata.get("description"), str) else "",
    )


def import_confirm(*, token: str, user: Any) -> dict:
    """Save every ready item of the preview `token`, each on its own. Confirming the same token
    again saves nothing and returns the first outcome."""
    key = _key(token or "")
    entry = cache.get(key)
    if entry is None or entry["user_id"] != getattr(user, "pk", None):
        done = cache.get(f"{key}:done")
        if done is not None and done["user_id"] == getattr(user, "pk", None):
            return {**done["outcome"], "already_confirmed": True}
        raise ImportRefused(
            "This import preview has expired or does not exist; import the document again.", field="token"
        )
    # One confirm per token, even when two arrive at once: the cache's add is atomic.
    if not cache.add(f"{key}:claim", 1, timeout=int(PREVIEW_TTL.total_seconds())):
        done = cache.get(f"{key}:done")
        if done is not None:
            return {**done["outcome"], "already_confirmed": True}
        raise ImportRefused("This import is being confirmed already.", field="token")

    results = []
    for item, raw in zip(entry["preview"]["items"], entry["raw"], strict=True):
        result = {"index": item["index"], "label": item["label"], "status": "skipped",
                  "message": item["message"], "model": "", "version": "", "url": "", "errors": {}}
        if item["status"] == "ready":
            try:
                version = _version_save(item, raw, token=token, user=user)
            except RegistryValidationError as exc:
                result.update(status="refused", message=f"Not saved: {exc}", errors=exc.errors)
            except IntegrityError:
                result.update(status="refused", message="Not saved: the model or version was created meanwhile; import it again.")
            else:
                result.update(
                    status="saved",
                    message=f"Saved {version.model.name} {version.version} ({METHOD_LABELS[version.mapping_method]}).",
                    model=version.model.name, model_slug=version.model.slug, version=version.version,
                    url=version.model.get_absolute_url(),
                )
                logger.info("import %s saved version %s by user %s", token[:8], version.pk, getattr(user, "pk", None))
        results.append(result)
    saved = sum(1 for r in results if r["status"] == "saved")
    outcome = {"saved_count": saved, "refused_count": len(results) - saved, "items": results,
               "already_confirmed": False}
    cache.set(f"{key}:done", {"user_id": entry["user_id"], "outcome": outcome},
              timeout=int(PREVIEW_TTL.total_seconds()))
    cache.delete(key)
    return outcome
