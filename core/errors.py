"""The one error every service raises: a message, the fields it concerns, an HTTP status.

Views and API views never translate errors by hand: the DRF handler in core/api.py renders
a ServiceError (and every DRF or Django error) as {"message": ..., "errors": {field: [..]}},
and pages show `message` and `errors` through the form helper.
"""

from __future__ import annotations

Errors = dict[str, list[str]]


class ServiceError(Exception):
    """Bad input or a refused action; nothing was changed.

    Either `ServiceError("message", {"field": ["..."]})` or `ServiceError({"field": [...]})`
    (the message is then the field messages joined).
    """

    status = 400

    def __init__(
        self,
        message: str | Errors = "",
        errors: Errors | None = None,
        *,
        status: int | None = None,
    ) -> None:
        if isinstance(message, dict):
            message, errors = "", message
        self.errors: Errors = {
            str(field): [str(m) for m in (msgs if isinstance(msgs, list | tuple) else [msgs])]
            for field, msgs in (errors or {}).items()
        }
        self.message = message or error_summary(self.errors) or "Invalid request."
        if status is not None:
            self.status = status
        super().__init__(self.message)


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class Unavailable(ServiceError):
    status = 503


def error_summary(errors: Errors) -> str:
    """One sentence from field errors: the non-field ones first, then `field: message`."""
    general = [m for m in errors.get("non_field_errors", [])]
    named = [
        f"{field}: {' '.join(messages)}"
        for field, messages in errors.items()
        if field != "non_field_errors"
    ]
    return " ".join(general + named)


def _merge(into: Errors, more: Errors) -> Errors:
    for field, messages in more.items():
        into.setdefault(field, []).extend(messages)
    return into


def _path(prefix: str, key: object) -> str:
    if key == "non_field_errors":
        return prefix or "non_field_errors"
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


def flatten_errors(detail: object, prefix: str = "") -> Errors:
    """DRF's nested errors as flat field paths: {"members": [{}, {"weight": [..]}]} ->
    {"members[1].weight": [..]}; a nested serializer's non-field errors stay on its path."""
    out: Errors = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            _merge(out, flatten_errors(value, _path(prefix, key)))
        return out
    if isinstance(detail, list | tuple) and any(isinstance(d, dict | list) for d in detail):
        for index, item in enumerate(detail):
            if item:
                _merge(out, flatten_errors(item, _path(prefix, index)))
        return out
    messages = detail if isinstance(detail, list | tuple) else [detail]
    return {prefix or "non_field_errors": [str(m) for m in messages]}
