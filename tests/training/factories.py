"""Training test data: a live credit group with a decision log, uploaded files, provider
versions, and job rows. Versions and groups are made through the real services."""

import uuid
from datetime import datetime, timedelta

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from groups.services import MemberSpec, group_create
from inference.tables import inference_log_model
from registry.demo import CREDIT_FEATURES, LABEL, credit_dataset
from registry.models import Flavor, ModelVersion, VersionSource, VersionStatus
from registry.services import model_version_register
from tests.registry.factories import RegisteredModelFactory, SklearnVersionFactory
from training.models import BaseKind, FineTuneJob, JobEvent, JobStatus, Preset
from training.services import DatasetSpec

PROMPT = (
    "Credit applicant: income {income}, debt ratio {debt_ratio}, age {age}, "
    '{delinquencies} delinquencies, loan {loan_amount}. Answer with JSON {{"label": 0 or 1}}.'
)


def credit_group(*, name: str = "Live Credit Scoring", model_name: str = "Credit Scoring"):
    """A group whose champion is a real scikit-learn Credit Scoring version."""
    model = RegisteredModelFactory(name=model_name)
    champion = SklearnVersionFactory(model=model, version="1.2")
    group = group_create(name=name, members=[MemberSpec(champion, "champion", 100)])
    return group, champion


def log_decisions(
    group,
    version: ModelVersion,
    *,
    rows: int = 600,
    seed: int = 7,
    with_outcome: bool = True,
    created_at: datetime | None = None,
    role: str = "champion",
) -> int:
    """Replay credit applicants into the group's inference table, with their true outcome."""
    log = inference_log_model(group.table_name)
    frame = credit_dataset(rows=rows, seed=seed)
    start = created_at or timezone.now() - timedelta(hours=1)
    log.objects.bulk_create(
        log(
            request_id=uuid.uuid4(),
            model_version_id=version.pk,
            role=role,
            inputs={name: record[name] for name in CREDIT_FEATURES},
            prediction=0,
            score=0.2,
            created_at=start + timedelta(seconds=i),
            outcome=int(record[LABEL]) if with_outcome else None,
            outcome_at=start + timedelta(seconds=i) if with_outcome else None,
        )
        for i, record in enumerate(frame.to_dict(orient="records"))
    )
    return rows


def credit_csv(
    *, rows: int = 200, seed: int = 3, drop: tuple[str, ...] = (), name: str = "applicants.csv"
):
    frame = credit_dataset(rows=rows, seed=seed).drop(columns=list(drop))
    return SimpleUploadedFile(name, frame.to_csv(index=False).encode(), content_type="text/csv")


def decision_log(group, **fields) -> DatasetSpec:
    return DatasetSpec(source="decision_log", group=group, **fields)


def upload(file, *, label_column: str = "default") -> DatasetSpec:
    return DatasetSpec(source="upload", upload=file, label_column=label_column)


def external_version(provider, *, model_name: str = "Credit Scoring LLM") -> ModelVersion:
    return model_version_register(
        model=RegisteredModelFactory(name=model_name),
        version="1.0",
        flavor=Flavor.EXTERNAL,
        metadata={
            "features": [{"name": f, "type": "numeric"} for f in CREDIT_FEATURES],
            "metrics": {},
            "training": {"target": LABEL},
        },
        status=VersionStatus.STAGING,
        source=VersionSource.UPLOAD,
        provider=provider,
        provider_model="gpt-4o-mini-2024-07-18",
        prompt_template=PROMPT,
        response_parser={"type": "json"},
    )


class FineTuneJobFactory(factory.django.DjangoModelFactory):
    """A job row only (no dataset, nothing queued): for pages, filters and the admin."""

    class Meta:
        model = FineTuneJob

    status = JobStatus.QUEUED
    base_kind = BaseKind.PRESET
    preset = Preset.GRADIENT_BOOSTING
    hyperparameters = factory.LazyFunction(lambda: {"n_estimators": 100})


class JobEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobEvent

    job = factory.SubFactory(FineTuneJobFactory)
    message = factory.Sequence(lambda n: f"Stage {n}")
    metrics = factory.Sequence(lambda n: {"stage": n, "train_loss": 0.5, "val_loss": 0.6})
