"""Step 3 of an import: which model, task and version label a mapped document becomes, and
where each came from. A value typed in the form wins; then the document's; for an existing
model the task is the model's (a document that says otherwise is refused); for a new one it
may be inferred from the metrics; the version label, if neither gives one, is the next free one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.text import slugify

from core.permissions import can
from registry.models import Flavor, ModelVersion, RegisteredModel, Task
from registry.services import model_version_next_label, version_label_next

NEXT_FREE_LABEL = "the next free label"
_REGRESSION_METRICS = ("rmse", "mae", "r2")
_CLASSIFIER_METRICS = ("auc_roc", "auc_pr", "log_loss", "brier")

Problem = tuple[str, str]


@dataclass(frozen=True)
class ImportOptions:
    """What the user typed next to the document; each, when given, wins over the document."""

    model_name: str = ""
    task: str = ""
    version: str = ""
    team: str = ""


@dataclass(frozen=True)
class Identity:
    name: str
    name_from: str
    exists: bool
    slug: str
    url: str
    task: str
    task_label: str
    task_from: str
    version: str
    version_from: str
    flavor: str


def model_named(name: str) -> RegisteredModel | None:
    return RegisteredModel.objects.filter(
        Q(name__iexact=name) | Q(slug=slugify(name)[:200])
    ).first()


def _text(document: dict, key: str) -> str:
    value = document.get(key)
    return value.strip() if isinstance(value, str) else ""


def inferred_task(document: dict) -> tuple[str, str]:
    metrics = document.get("metrics") if isinstance(document.get("metrics"), dict) else {}
    charts = document.get("charts") if isinstance(document.get("charts"), dict) else {}
    regression = [m for m in _REGRESSION_METRICS if m in metrics]
    if regression:
        return Task.REGRESSION, f"inferred from the metrics ({', '.join(regression)})"
    classifier = [m for m in _CLASSIFIER_METRICS if m in metrics] + [
        c for c in ("roc_curve",) if c in charts
    ]
    if classifier:
        return Task.BINARY, f"inferred from {', '.join(classifier)}"
    return "", ""


def _name(document: dict, options: ImportOptions) -> tuple[str, str, list[Problem]]:
    typed = options.model_name.strip()
    name = typed or _text(document, "name")
    name_from = "the form" if typed else "the document" if name else ""
    if not name:
        return (
            "",
            "",
            [("name", "is required: the document names no model; type a model name in the form")],
        )
    if not slugify(name):
        return name, name_from, [("name", "needs at least one letter or digit")]
    return name, name_from, []


def _task(
    document: dict, options: ImportOptions, model: RegisteredModel | None
) -> tuple[str, str, list[Problem]]:
    doc_task = _text(document, "task")
    task, task_from = (options.task, "the form") if options.task else (doc_task, "the document")
    if not task:
        task_from = ""
    if model is not None:
        problems = []
        if task and task != model.task:
            problems.append(
                (
                    "task",
                    f"'{model.name}' is a {model.get_task_display().lower()} model; {task_from} says {task}",
                )
            )
        return model.task, "the existing model", problems
    if task:
        return task, task_from, []
    task, task_from = inferred_task(document)
    if task:
        return task, task_from, []
    return (
        "",
        "",
        [
            (
                "task",
                "is required for a new model: the document does not say it and the metrics do not tell; "
                "choose a task in the form",
            )
        ],
    )


def _document_version(document: dict) -> str:
    value = document.get("version")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).strip()


def _version(
    document: dict, options: ImportOptions, model: RegisteredModel | None, taken: set[str]
) -> tuple[str, str, list[Problem]]:
    typed = options.version.strip()
    label = typed or _document_version(document)
    if not label:
        if model is not None:
            return model_version_next_label(model=model, taken=taken), NEXT_FREE_LABEL, []
        return version_label_next([], taken=taken), NEXT_FREE_LABEL, []
    version_from = "the form" if typed else "the document"
    if model is not None and ModelVersion.objects.filter(model=model, version=label).exists():
        return label, version_from, [("version", f"{model.name} already has a version {label}")]
    if label in taken:
        return (
            label,
            version_from,
            [("version", f"another document of this upload is also version {label}")],
        )
    return label, version_from, []


def _permission(user: Any, model: RegisteredModel | None) -> list[Problem]:
    if model is None or can(user, "registry.add_modelversion", model):
        return []
    return [
        ("name", f"'{model.name}' belongs to the team {model.team}; you may not add versions to it")
    ]


def identity_decide(
    document: dict, options: ImportOptions, reserved: dict[str, set[str]], *, user: Any
) -> tuple[Identity, list[Problem]]:
    """Decide the model, the task and the version label (`reserved`: the labels earlier
    documents of the same upload took, per model slug), and say where each came from."""
    name, name_from, problems = _name(document, options)
    model = model_named(name) if name else None
    task, task_from, task_problems = _task(document, options, model)
    slug = model.slug if model is not None else slugify(name)
    taken = reserved.setdefault(slug, set())
    label, version_from, version_problems = _version(document, options, model, taken)
    taken.add(label)
    identity = Identity(
        name=name,
        name_from=name_from,
        exists=model is not None,
        slug=slug,
        url=model.get_absolute_url() if model is not None else "",
        task=task,
        task_label=Task(task).label if task in Task.values else task,
        task_from=task_from,
        version=label,
        version_from=version_from,
        flavor=Flavor.EXTERNAL if task == Task.TEXT_GENERATION else Flavor.SKLEARN,
    )
    return identity, problems + task_problems + version_problems + _permission(user, model)
