"""The serving path's errors: each a ServiceError with its HTTP status; nothing was logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import InterfaceError, OperationalError

from core.errors import ServiceError

logger = logging.getLogger(__name__)


class ServingError(ServiceError):
    """A request the hub answers with an error; nothing was logged."""

    status = 400


class InvalidInputs(ServingError):
    status = 400


class GroupNotFound(ServingError):
    status = 404


class NoChampion(ServingError):
    status = 409


class ModelUnavailable(ServingError):
    status = 503


class RequestIdReused(ServingError):
    """A client-supplied request_id already logged with other inputs (not a retry)."""

    status = 409


class DatabaseUnavailable(ServingError):
    status = 503


def database_error(exc: BaseException) -> DatabaseUnavailable:
    if isinstance(exc, OperationalError | InterfaceError):
        message = "The database is unreachable: try again shortly."
    else:
        message = "The prediction could not be logged: try again shortly."
    return DatabaseUnavailable(message, {"database": [message]})


@contextmanager
def database_reachable() -> Iterator[None]:
    """A database that cannot be reached is a 503 JSON error, never an HTML page or a 500."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        logger.error("The database is unreachable: %s", exc)
        raise database_error(exc) from exc
