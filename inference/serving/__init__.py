"""Serving predictions for a group: the hot path behind POST /api/v1/groups/<slug>/predict.

    routing table (cached per process; one cache round trip checks its generation)  route
    -> validate the inputs with the group's compiled validator (400 names every problem)
                                                                                validate
    -> route each instance (weighted, or by the stable hash of its routing key)    route
    -> queue the routed instances for the process's group commit (inference/group_commit.py):
       the request that finds no batch in progress leads one, for every request queued
       meanwhile:                                                                  commit
         predict + SHAP, one call per model version (micro-batched across requests) score
         -> shadows: predicted for the same instances, one call per shadow version score
         -> ONE multi-row INSERT and one commit for the whole batch, shadows' rows
            included                                                    log_rows, insert
         -> wakes each request, which answers only now: no 200 without a committed row
            (nor before its shadows' rows are committed: feedback sent at once finds them)
                                                                                 respond
    -> a batch whose commit fails fails exactly its requests: 503 JSON             errors

On SQLite, inside a caller's transaction (tests, the demo) and for backdated rows, a
request does the same steps itself and commits its own rows (`HUB_GROUP_COMMIT` off too).

Only the INSERT touches the database on the common path. Two exceptions, both off it:
a client-supplied `request_id` is looked up first (one indexed SELECT) so a retry returns
the logged answer without predicting or logging again; and the first request for a
version reads that version's row once per process (versions). A client-supplied id is
logged once even under a concurrent retry: on PostgreSQL the commit takes a
transaction-scoped advisory lock per such id and skips the ids logged meanwhile (a
partitioned table's unique constraints must include the month, so `request_id` alone
cannot be one); those requests answer with the logged row.

`latency_ms` is the time from the request's arrival in the service to its prediction and
explanation (its wait for a batch included): the INSERT writes it, so it cannot include
itself, nor the HTTP exchange.

The modules, in the order a request meets them: service (predict_one, predict_batch),
route, validate, commit, score, log_rows, insert, respond; with jobs (what travels),
versions (the per-process cache of versions and predictors) and errors. This package
exports what the rest of the hub uses.
"""

from inference.serving.commit import group_commit_reset
from inference.serving.errors import (
    DatabaseUnavailable,
    GroupNotFound,
    InvalidInputs,
    ModelUnavailable,
    NoChampion,
    RequestIdReused,
    ServingError,
    database_reachable,
)
from inference.serving.insert import log_insert
from inference.serving.jobs import PredictRequest
from inference.serving.score import shadow_request_id
from inference.serving.service import predict_batch, predict_one, serving_cache_clear
from inference.serving.validate import ROUTING_KEY_MAX

# The batch jobs (inference/batch/scoring.py) load versions through this process's cache.
from inference.serving.versions import cached_version as _version
from inference.serving.versions import version_predictor as _predictor

__all__ = [
    "ROUTING_KEY_MAX",
    "DatabaseUnavailable",
    "GroupNotFound",
    "InvalidInputs",
    "ModelUnavailable",
    "NoChampion",
    "PredictRequest",
    "RequestIdReused",
    "ServingError",
    "_predictor",
    "_version",
    "database_reachable",
    "group_commit_reset",
    "log_insert",
    "predict_batch",
    "predict_one",
    "serving_cache_clear",
    "shadow_request_id",
]
