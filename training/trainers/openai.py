"""The OpenAI trainer: the dataset becomes chat JSONL written with the base version's prompt
template, is uploaded with purpose "fine-tune", and a fine-tuning job is created with the
hyperparameters under `method`. The provider trains; a beat task polls it (poll())."""

import json
from typing import Any

from providers.clients import (
    ProviderError,
    fine_tune_cancel,
    fine_tune_create,
    fine_tune_events,
    fine_tune_retrieve,
    fine_tune_upload,
)
from registry.prompting import PromptError, prompt_render
from training.datasets import FeatureSpec, read_snapshot
from training.models import FineTuneJob
from training.trainers.base import (
    ExternalEvent,
    ExternalState,
    ExternalSubmission,
    Reporter,
    TrainingFailure,
    TransientTrainingError,
)

PROVIDER_HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")


def provider_error(exc: ProviderError) -> Exception:
    """Outages and rate limits are retried; anything else is the job's error."""
    if exc.status is None or exc.status == 429 or exc.status >= 500:
        return TransientTrainingError(str(exc))
    return TrainingFailure(str(exc))


def assistant_answer(label: Any, parser: dict | None) -> str:
    """What the fine-tuned model should answer, in the form the version's parser reads."""
    parser = parser or {}
    kind = parser.get("type")
    plain = label.item() if hasattr(label, "item") else label
    if kind in (None, "json"):
        return json.dumps({parser.get("label", "label"): plain})
    if kind == "label":
        # The word the parser maps to this label ("yes" for 1), so answers parse back.
        for word, value in (parser.get("labels") or {}).items():
            if str(value) == str(plain):
                return str(word)
    return str(plain)


def chat_jsonl(
    rows: list[dict[str, Any]], *, label_column: str, template: str, parser: dict | None
) -> bytes:
    lines = []
    for index, row in enumerate(rows, start=1):
        inputs = {
            k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if k != label_column
        }
        try:
            prompt = prompt_render(template, inputs)
        except PromptError as exc:
            raise TrainingFailure(f"Row {index}: {exc}") from exc
        messages = [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": assistant_answer(row[label_column], parser)},
        ]
        lines.append(json.dumps({"messages": messages}, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def _event(raw: dict) -> ExternalEvent:
    data = raw.get("data") or {}
    metrics = {
        k: v for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return ExternalEvent(
        id=str(raw["id"]),
        created_at=raw.get("created_at"),
        level=str(raw.get("level") or "info"),
        message=str(raw.get("message") or ""),
        metrics=metrics,
    )


class OpenAITrainer:
    def run(self, job: FineTuneJob, report: Reporter) -> ExternalSubmission:
        base = job.base_version
        provider = base.provider
        snapshot = job.snapshot
        features = [FeatureSpec(f["name"], f.get("type", "text")) for f in snapshot.features]
        report(
            progress=2,
            stage="Preparing the training file",
            message="Writing chat examples with the prompt template.",
        )
        with snapshot.file.open("rb") as handle:
            frame = read_snapshot(handle, features=features, label_column=snapshot.label_column)
        jsonl = chat_jsonl(
            frame.to_dict(orient="records"),
            label_column=snapshot.label_column,
            template=base.prompt_template,
            parser=base.response_parser,
        )
        report(
            progress=5,
            stage="Uploading the training file",
            message=f"{len(frame)} chat examples to {provider}.",
        )
        hp = job.hyperparameters
        try:
            file_id = fine_tune_upload(
                provider, jsonl=jsonl, filename=f"model-hub-job-{job.pk}.jsonl"
            )
            created = fine_tune_create(
                provider,
                training_file=file_id,
                model=base.provider_model or provider.default_model,
                hyperparameters={
                    k: hp[k] for k in PROVIDER_HYPERPARAMETERS if hp.get(k) is not None
                },
                suffix=hp.get("suffix") or None,
            )
        except ProviderError as exc:
            raise provider_error(exc) from exc
        return ExternalSubmission(
            file_id=file_id, job_id=created["id"], status=created["status"], examples=len(frame)
        )

    def poll(self, job: FineTuneJob) -> ExternalState:
        provider = job.base_version.provider
        try:
            state = fine_tune_retrieve(provider, job.external_job_id)
            events = fine_tune_events(provider, job.external_job_id)
        except ProviderError as exc:
            raise provider_error(exc) from exc
        error = state.get("error") or {}
        return ExternalState(
            status=state["status"],
            fine_tuned_model=state.get("fine_tuned_model"),
            error=str(error.get("message") or error.get("code") or ""),
            events=[_event(e) for e in events],
            trained_tokens=state.get("trained_tokens"),
        )

    def cancel(self, job: FineTuneJob) -> None:
        if not job.external_job_id:
            return
        try:
            fine_tune_cancel(job.base_version.provider, job.external_job_id)
        except ProviderError as exc:
            raise TrainingFailure(f"The provider refused to cancel: {exc}") from exc
