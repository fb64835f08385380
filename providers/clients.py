"""The one place that builds SDK clients, and the few provider operations the hub needs.

Every operation takes a ``Provider`` and reads the key (decrypted only here, only for the
call), base URL, timeout and retries at call time. Every failure becomes ``ProviderError``,
whose message says which provider, what kind, the HTTP status and the provider's own words,
with anything that looks like a key scrubbed out. The SDKs' exceptions are never chained
into it (``from None``), so a traceback cannot carry a key into a log either.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from providers.crypto import KeyringError, decrypt

if TYPE_CHECKING:
    from providers.models import Provider

logger = logging.getLogger(__name__)

KIND_LABELS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Gemini",
    "openai_compatible": "OpenAI-compatible",
}
# OpenAI-compatible servers (vLLM, Ollama) often take no key, but the SDK insists on one.
NO_KEY_PLACEHOLDER = "no-key"
STRUCTURED_TOOL_NAME = "record_result"
MAX_OUTPUT_TOKENS = 4096
MAX_MESSAGE_CHARS = 500
MAX_EVENTS = 10_000

# Per process: provider id -> (what the client was built from, the SDK client).
_clients: dict[int, tuple[tuple, Any]] = {}
_clients_lock = threading.Lock()

# Shapes of API keys of the providers we speak to, scrubbed from any message we pass on
# (OpenAI's 401 body, for one, quotes the key it was given, partly masked).
_KEY_PATTERNS = re.compile(
    r"(\bsk-[A-Za-z0-9_\-*.]{6,}|\bAIza[0-9A-Za-z_\-]{10,}|Bearer\s+\S+)",
    re.IGNORECASE,
)


class ProviderError(Exception):
    """A provider call failed. ``str()`` is a human sentence with no key material."""

    def __init__(
        self, message: str, *, kind: str = "", status: int | None = None, provider_name: str = ""
    ) -> None:
        self.kind = kind
        self.status = status
        self.message = message
        self.provider_name = provider_name
        super().__init__(str(self))

    def __str__(self) -> str:
        who = KIND_LABELS.get(self.kind, self.kind or "Provider")
        if self.provider_name:
            who = f"{who} provider “{self.provider_name}”"
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{who}: {self.message}{status}"


def redact(text: str, secret: str | None = None) -> str:
    """``text`` without ``secret`` and without anything shaped like an API key."""
    if secret and secret != NO_KEY_PLACEHOLDER:
        text = text.replace(secret, "[redacted]")
    text = _KEY_PATTERNS.sub("[redacted]", text)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


# --- building clients -------------------------------------------------------------------


@sensitive_variables("api_key")
def _api_key(provider: Provider) -> str:
    if not provider.api_key_encrypted:
        if provider.kind == "openai_compatible":
            return NO_KEY_PLACEHOLDER
        raise ProviderError(
            "no API key is set; add one in the admin.",
            kind=provider.kind,
            provider_name=provider.name,
        )
    try:
        return decrypt(provider.api_key_encrypted, provider_name=provider.name)
    except KeyringError as exc:
        raise ProviderError(str(exc), kind=provider.kind, provider_name=provider.name) from None


@sensitive_variables("api_key")
def _build_client(provider: Provider, api_key: str) -> Any:
    timeout = float(settings.PROVIDER_TIMEOUT_SECONDS)
    retries = int(settings.PROVIDER_MAX_RETRIES)
    base_url = provider.base_url or None
    if provider.kind in {"openai", "openai_compatible"}:
        import openai

        if provider.kind == "openai_compatible" and not base_url:
            raise ProviderError(
                "an OpenAI-compatible provider needs a base URL.",
                kind=provider.kind,
                provider_name=provider.name,
            )
        org = provider.organization.strip()
        # One field holds either an organisation id or a project id; OpenAI tells them apart
        # by prefix, and so do we.
        return openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            organization=org if org and not org.startswith("proj_") else None,
            project=org if org.startswith("proj_") else None,
            timeout=timeout,
            max_retries=retries,
        )
    if provider.kind == "anthropic":
        import anthropic

        return anthropic.Anthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=retries
        )
    if provider.kind == "gemini":
        from google import genai
        from google.genai import types

        return genai.Client(
            vertexai=False,
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url,
                timeout=int(timeout * 1000),  # milliseconds
                retry_options=types.HttpRetryOptions(attempts=retries + 1),
            ),
        )
    raise ProviderError(
        f"unknown provider kind {provider.kind!r}.", kind=provider.kind, provider_name=provider.name
    )


def _describe(exc: Exception, timeout: float) -> tuple[int | None, str]:
    """(HTTP status, the provider's own message) for any SDK or transport exception."""
    described = _describe_sdk(exc, timeout)
    if described is not None:
        return described
    name = type(exc).__name__.lower()
    if "timeout" in name:
        return None, f"no answer within {timeout:g} seconds (timed out)."
    if "connect" in name:
        return None, f"could not connect ({_root_cause(exc)})."
    if isinstance(exc, ValueError):  # JSON decoding of a malformed answer, among others
        return None, f"the answer could not be read ({type(exc).__name__}: {exc})."
    return None, f"{type(exc).__name__}: {exc}"


def _describe_sdk(exc: Exception, timeout: float) -> tuple[int | None, str] | None:
    import anthropic
    import openai
    from google.genai import errors as genai_errors

    if isinstance(exc, openai.APIStatusError | anthropic.APIStatusError):
        return exc.status_code, _body_message(exc.body) or exc.message
    if isinstance(exc, openai.APITimeoutError | anthropic.APITimeoutError):
        return None, f"no answer within {timeout:g} seconds (timed out)."
    if isinstance(exc, openai.APIConnectionError | anthropic.APIConnectionError):
        return None, f"could not connect ({_root_cause(exc)})."
    if isinstance(exc, openai.APIResponseValidationError | anthropic.APIResponseValidationError):
        return exc.status_code, "the answer was not in the expected format."
    if isinstance(exc, genai_errors.APIError):
        return exc.code, exc.message or exc.status or "error"
    return None


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def _body_message(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if body.get("message"):
            return str(body["message"])
    return ""


@sensitive_variables("api_key")
def _client_for(provider: Provider, api_key: str) -> Any:
    """An SDK client for the provider, reused while nothing it was built from changes.

    Reuse keeps connections (and their TLS sessions) open between calls: external models
    call their provider once per prediction. SDK clients are safe to share across threads.
    """
    fingerprint = (
        provider.kind,
        provider.base_url,
        provider.organization,
        provider.api_key_encrypted,
        float(settings.PROVIDER_TIMEOUT_SECONDS),
        int(settings.PROVIDER_MAX_RETRIES),
    )
    with _clients_lock:
        cached = _clients.get(provider.pk)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
    client = _build_client(provider, api_key)
    if provider.pk is not None:
        with _clients_lock:
            # A replaced client is left to the garbage collector, not closed: another thread
            # may still be in a call with it.
            _clients[provider.pk] = (fingerprint, client)
    return client


def clients_cache_clear() -> None:
    with _clients_lock:
        _clients.clear()


@sensitive_variables("api_key")
def _call[T](provider: Provider, action: str, operation: Callable[[Any], T]) -> T:
    """Run ``operation(client)``; any failure, building the client included, becomes a
    ProviderError with the key scrubbed from its message.

    The plaintext key lives only in this frame and the builders' (marked sensitive, so
    Django's error reports show it as stars), and the SDK's exception is not chained.
    """
    api_key = _api_key(provider)
    timeout = float(settings.PROVIDER_TIMEOUT_SECONDS)
    try:
        return operation(_client_for(provider, api_key))
    except ProviderError as exc:
        exc.message = redact(exc.message, api_key)
        exc.kind, exc.provider_name = provider.kind, provider.name
        exc.args = (str(exc),)
        error = exc
    except Exception as exc:
        # Built in another frame: the unredacted message never becomes a local of this one,
        # which an error report would show.
        error = _provider_error(provider, exc, timeout, api_key)
    logger.warning("%s failed: %s", action, error)
    error.__context__ = None  # an SDK exception kept here could quote the key
    raise error from None


@sensitive_variables("api_key", "message")
def _provider_error(
    provider: Provider, exc: Exception, timeout: float, api_key: str
) -> ProviderError:
    status, message = _describe(exc, timeout)
    return ProviderError(
        redact(message, api_key), kind=provider.kind, status=status, provider_name=provider.name
    )


def _model(provider: Provider, model: str | None) -> str:
    chosen = (model or provider.default_model).strip()
    if not chosen:
        raise ProviderError(
            "no model was given and the provider has no default model.",
            kind=provider.kind,
            provider_name=provider.name,
        )
    return chosen


def _payload_text(payload: dict | str) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload, default=str)


def _json_object(text: str | None) -> dict:
    if not text:
        raise ProviderError("the answer was empty.")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ProviderError(f"the answer was not valid JSON ({exc}).") from None
    if not isinstance(value, dict):
        raise ProviderError("the answer was JSON but not an object.")
    return value


# --- operations, the same for every kind --------------------------------------------------


def list_models(provider: Provider) -> list[str]:
    return list_models_timed(provider)[0]


def list_models_timed(provider: Provider) -> tuple[list[str], float]:
    """The model ids and how long the call took in milliseconds.

    Only the call is timed: the first call in a process also imports the SDK and builds
    its client, which says nothing about the provider's health.
    """

    def operation(client: Any) -> tuple[list[str], float]:
        started = time.perf_counter()
        if provider.kind == "gemini":
            models = [m.name.removeprefix("models/") for m in client.models.list() if m.name]
        else:
            models = [m.id for m in client.models.list()]
        return models, round((time.perf_counter() - started) * 1000, 1)

    return _call(provider, "list models", operation)


def structured_completion(
    provider: Provider,
    *,
    instructions: str,
    payload: dict | str,
    json_schema: dict,
    model: str | None = None,
) -> dict:
    """A JSON object shaped by ``json_schema``, as the provider produced it.

    The provider is asked to follow the schema, but the caller validates the result: not
    every model honours a schema strictly.
    """
    chosen = _model(provider, model)
    text = _payload_text(payload)

    def openai_operation(client: Any) -> dict:
        # strict=False: strict mode rejects schemas with optional properties, and callers
        # pass schemas written for validation, not for OpenAI's strict subset.
        response = client.chat.completions.create(
            model=chosen,
            messages=[
                *([{"role": "system", "content": instructions}] if instructions else []),
                {"role": "user", "content": text},
            ],
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(json_schema),
                    "schema": json_schema,
                    "strict": False,
                },
            },
        )
        message = response.choices[0].message if response.choices else None
        if message is not None and getattr(message, "refusal", None):
            raise ProviderError(f"the model refused: {message.refusal}")
        return _json_object(message.content if message else None)

    def anthropic_operation(client: Any) -> dict:
        # Anthropic has no response format; a forced tool call whose input_schema is the
        # schema gives the same result.
        response = client.messages.create(
            model=chosen,
            max_tokens=MAX_OUTPUT_TOKENS,
            messages=[{"role": "user", "content": text}],
            tools=[
                {
                    "name": STRUCTURED_TOOL_NAME,
                    "description": "Record the result.",
                    "input_schema": json_schema,
                }
            ],
            tool_choice={"type": "tool", "name": STRUCTURED_TOOL_NAME},
            # Anthropic refuses an empty system prompt.
            **({"system": instructions} if instructions else {}),
        )
        for block in response.content or []:
            if block.type == "tool_use" and isinstance(block.input, dict):
                return block.input
        raise ProviderError("the answer held no structured result (no tool call).")

    def gemini_operation(client: Any) -> dict:
        from google.genai import types

        # response_json_schema takes a JSON Schema as is; response_schema would first convert
        # it to Gemini's OpenAPI subset and silently drop what that subset lacks.
        response = client.models.generate_content(
            model=chosen,
            contents=text,
            config=types.GenerateContentConfig(
                system_instruction=instructions or None,
                response_mime_type="application/json",
                response_json_schema=json_schema,
            ),
        )
        return _json_object(response.text)

    operations = {"anthropic": anthropic_operation, "gemini": gemini_operation}
    return _call(provider, "structured completion", operations.get(provider.kind, openai_operation))


@dataclass(frozen=True)
class ChatAnswer:
    """A structured chat answer and what it cost (token counts None when not reported)."""

    data: dict
    model: str
    input_tokens: int | None
    output_tokens: int | None


def _usage(usage: Any, names: tuple[str, str]) -> tuple[int | None, int | None]:
    if usage is None:
        return None, None
    return getattr(usage, names[0], None), getattr(usage, names[1], None)


def structured_chat(
    provider: Provider,
    *,
    instructions: str,
    messages: list[dict],
    json_schema: dict,
    model: str | None = None,
) -> ChatAnswer:
    """Like structured_completion, over a conversation (``[{"role": "user"|"assistant",
    "content": str}]``, oldest first), and with the token usage the provider reported."""
    chosen = _model(provider, model)
    turns = [{"role": m["role"], "content": m["content"]} for m in messages]

    def openai_operation(client: Any) -> ChatAnswer:
        response = client.chat.completions.create(
            model=chosen,
            messages=[{"role": "system", "content": instructions}, *turns],
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(json_schema),
                    "schema": json_schema,
                    "strict": False,
                },
            },
        )
        message = response.choices[0].message if response.choices else None
        if message is not None and getattr(message, "refusal", None):
            raise ProviderError(f"the model refused: {message.refusal}")
        used = _usage(response.usage, ("prompt_tokens", "completion_tokens"))
        return ChatAnswer(_json_object(message.content if message else None), chosen, *used)

    def anthropic_operation(client: Any) -> ChatAnswer:
        response = client.messages.create(
            model=chosen,
            max_tokens=MAX_OUTPUT_TOKENS,
            system=instructions,
            messages=turns,
            tools=[
                {
                    "name": STRUCTURED_TOOL_NAME,
                    "description": "Record the answer.",
                    "input_schema": json_schema,
                }
            ],
            tool_choice={"type": "tool", "name": STRUCTURED_TOOL_NAME},
        )
        used = _usage(response.usage, ("input_tokens", "output_tokens"))
        for block in response.content or []:
            if block.type == "tool_use" and isinstance(block.input, dict):
                return ChatAnswer(block.input, chosen, *used)
        raise ProviderError("the answer held no structured result (no tool call).")

    def gemini_operation(client: Any) -> ChatAnswer:
        from google.genai import types

        response = client.models.generate_content(
            model=chosen,
            contents=[
                types.Content(
                    role="model" if t["role"] == "assistant" else "user",
                    parts=[types.Part(text=t["content"])],
                )
                for t in turns
            ],
            config=types.GenerateContentConfig(
                system_instruction=instructions,
                response_mime_type="application/json",
                response_json_schema=json_schema,
            ),
        )
        used = _usage(response.usage_metadata, ("prompt_token_count", "candidates_token_count"))
        return ChatAnswer(_json_object(response.text), chosen, *used)

    operations = {"anthropic": anthropic_operation, "gemini": gemini_operation}
    return _call(provider, "structured chat", operations.get(provider.kind, openai_operation))


def complete(provider: Provider, *, prompt: str, model: str | None = None) -> str:
    chosen = _model(provider, model)

    def operation(client: Any) -> str:
        if provider.kind == "anthropic":
            response = client.messages.create(
                model=chosen,
                max_tokens=MAX_OUTPUT_TOKENS,
                messages=[{"role": "user", "content": prompt}],
            )
            return "".join(b.text for b in response.content or [] if b.type == "text")
        if provider.kind == "gemini":
            return client.models.generate_content(model=chosen, contents=prompt).text or ""
        response = client.chat.completions.create(
            model=chosen,
            messages=[{"role": "user", "content": prompt}],
        )
        return (response.choices[0].message.content or "") if response.choices else ""

    return _call(provider, "completion", operation)


def _schema_name(schema: dict) -> str:
    # OpenAI wants ^[a-zA-Z0-9_-]{1,64}$.
    name = re.sub(r"[^a-zA-Z0-9_-]+", "_", str(schema.get("title") or "result")).strip("_")
    return (name or "result")[:64]


# --- OpenAI fine-tuning (used by training) -------------------------------------------------


def _fine_tuning(provider: Provider) -> None:
    if provider.kind != "openai":
        label = KIND_LABELS.get(provider.kind, provider.kind)
        raise ProviderError(
            f"{label} offers no fine-tuning through its public API; use an OpenAI provider.",
            kind=provider.kind,
            provider_name=provider.name,
        )


def _job_dict(job: Any) -> dict:
    error = getattr(job, "error", None)
    error_message = getattr(error, "message", None) if error is not None else None
    hyperparameters = getattr(job, "hyperparameters", None)
    return {
        "id": job.id,
        "status": job.status,
        "fine_tuned_model": job.fine_tuned_model,
        "error": {"code": getattr(error, "code", None), "message": error_message}
        if error_message
        else None,
        "model": job.model,
        "created_at": job.created_at,
        "finished_at": getattr(job, "finished_at", None),
        "trained_tokens": getattr(job, "trained_tokens", None),
        "training_file": getattr(job, "training_file", None),
        "hyperparameters": hyperparameters.model_dump(exclude_none=True)
        if hasattr(hyperparameters, "model_dump")
        else (hyperparameters or {}),
    }


def fine_tune_upload(provider: Provider, *, jsonl: bytes, filename: str) -> str:
    """Upload a JSONL training file; returns its file id."""
    _fine_tuning(provider)
    return _call(
        provider,
        "fine-tuning upload",
        lambda client: (
            client.files.create(file=(filename, jsonl, "application/jsonl"), purpose="fine-tune").id
        ),
    )


def fine_tune_create(
    provider: Provider,
    *,
    training_file: str,
    model: str,
    hyperparameters: dict,
    suffix: str | None = None,
) -> dict:
    _fine_tuning(provider)

    def operation(client: Any) -> Any:
        # Hyperparameters go under `method`: the top-level field is deprecated by OpenAI.
        extra = {"suffix": suffix} if suffix else {}
        return client.fine_tuning.jobs.create(
            model=model,
            training_file=training_file,
            method={
                "type": "supervised",
                "supervised": {"hyperparameters": dict(hyperparameters or {})},
            },
            **extra,
        )

    return _job_dict(_call(provider, "fine-tuning create", operation))


def fine_tune_retrieve(provider: Provider, job_id: str) -> dict:
    _fine_tuning(provider)
    return _job_dict(
        _call(
            provider,
            "fine-tuning retrieve",
            lambda client: client.fine_tuning.jobs.retrieve(job_id),
        )
    )


def fine_tune_events(provider: Provider, job_id: str) -> list[dict]:
    """All events of a job, oldest first (the API lists them newest first)."""
    _fine_tuning(provider)

    def operation(client: Any) -> list[dict]:
        events = []
        for event in _capped(client.fine_tuning.jobs.list_events(job_id, limit=100), MAX_EVENTS):
            data = getattr(event, "data", None)
            events.append(
                {
                    "id": event.id,
                    "created_at": event.created_at,
                    "level": event.level,
                    "message": event.message,
                    "data": data if isinstance(data, dict) else {},
                }
            )
        events.reverse()
        # Stable: events of the same second keep the API's order.
        events.sort(key=lambda e: e["created_at"] or 0)
        return events

    return _call(provider, "fine-tuning events", operation)


def fine_tune_cancel(provider: Provider, job_id: str) -> dict:
    _fine_tuning(provider)
    return _job_dict(
        _call(provider, "fine-tuning cancel", lambda client: client.fine_tuning.jobs.cancel(job_id))
    )


def _capped(items: Any, limit: int) -> Iterator[Any]:
    for count, item in enumerate(items):
        if count >= limit:
            return
        yield item
