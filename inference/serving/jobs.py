"""What travels down the serving path: a request's instances (`PredictRequest`), each one
routed (`Pending`), and one request's routed instances handed to the writer (`Job`)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from groups.routing import RouteMember
from groups.selectors import RoutingTable
from inference import explain
from registry.predictors import Prediction


@dataclass(frozen=True)
class PredictRequest:
    """One instance to predict. `logged_at` backdates the log row (demo replay only)."""

    inputs: dict[str, Any]
    routing_key: str = ""
    request_id: uuid.UUID | None = None
    explain: bool = True
    logged_at: datetime | None = None


@dataclass(eq=False)
class Pending:
    """One instance on its way through the pipeline."""

    index: int
    request: PredictRequest
    request_id: uuid.UUID
    member: RouteMember
    job: Job | None = None
    version_id: int = 0
    role: str = ""
    prediction: Prediction | None = None
    explanation: explain.Explanation | None = None
    fallback: bool = False
    error: str = ""
    latency_ms: float = 0.0
    row: dict[str, Any] | None = None  # the log row, as inserted and answered
    notes: list[str] = field(default_factory=list)
    shadow_of: uuid.UUID | None = None  # a shadow's: the request_id of the row it shadows


@dataclass(eq=False)
class Job:
    """One request's routed instances, handed to the writer (or run by the request)."""

    table: RoutingTable
    champion: RouteMember
    items: list[Pending]
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    submitted: bool = False
    # Client-supplied ids another request logged first: answered from the log.
    taken: set[uuid.UUID] = field(default_factory=set)

    @property
    def size(self) -> int:
        return len(self.items)

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error

    def served(self) -> list[Pending]:
        return [item for item in self.items if item.request_id not in self.taken]
