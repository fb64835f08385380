"""The one interface every trainer follows, and what flows between a trainer and the services.

A trainer computes and talks to providers; it never writes job rows itself. It reports
progress through the `Reporter` the services hand it (which records the stage, beats the
heartbeat, and raises JobCancelled/JobStopped when the job must stop), and returns what it
produced: a LocalResult (a trained model, ready to register) or an ExternalSubmission (a
provider job, followed by polling).
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

# The loss a local job reports per stage, by what the estimator predicts.
LOSS_NAMES = {"log_loss": "log loss", "squared_error": "squared error (MSE)"}


class JobCancelled(Exception):
    """The user cancelled the job; raised by the reporter at the next stage."""


class JobStopped(Exception):
    """The job is no longer running (e.g. failed for a missed heartbeat): stop quietly."""


class TransientTrainingError(Exception):
    """Worth another attempt (a provider outage, a database hiccup): the task retries."""


class TrainingFailure(Exception):
    """The job cannot succeed as set up; the message is shown to the user as the error."""


class Reporter(Protocol):
    def __call__(
        self,
        *,
        progress: int,
        stage: str,
        message: str,
        metrics: dict[str, Any] | None = None,
        level: str = "info",
    ) -> None: ...


@dataclass(frozen=True)
class LocalResult:
    artifact: bytes
    metadata: dict[str, Any]
    summary: str
    # A recipe run's metrics and gate; `draft`: register the version as a draft (its recipe
    # version was not approved, so the registry keeps it out of staging and production).
    results: dict[str, Any] = field(default_factory=dict)
    draft: bool = False
    # The hold-out rows (a DataFrame of the features): the new version's monitoring reference.
    holdout: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RunResult:
    """An eval or backtest run: numbers, no new version."""

    results: dict[str, Any]
    summary: str


@dataclass(frozen=True)
class ExternalSubmission:
    file_id: str
    job_id: str
    status: str
    examples: int


@dataclass(frozen=True)
class ExternalEvent:
    id: str
    created_at: float | None
    level: str
    message: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExternalState:
    status: str  # the provider's: validating_files, queued, running, succeeded, failed, cancelled
    fine_tuned_model: str | None
    error: str
    events: list[ExternalEvent]
    trained_tokens: int | None = None


class Trainer(Protocol):
    def run(self, job: Any, report: Reporter) -> LocalResult | RunResult | ExternalSubmission: ...

    def poll(self, job: Any) -> ExternalState: ...

    def cancel(self, job: Any) -> None: ...
