"""Fake OpenAI / Anthropic / Gemini server on 127.0.0.1 for the real SDKs (a pytest plugin).

The real SDKs are pointed at it with ``base_url``; nothing is patched. One server runs per
test session; its state is reset for every test through the ``fake_provider_server`` fixture.

Which API a request speaks is told by its headers, as the three SDKs all ask for
``GET /v1/models``: ``anthropic-version`` means Anthropic, ``x-goog-api-key`` (or a ``key``
query parameter) means Gemini, anything else OpenAI (and OpenAI-compatible servers).

Usage in a test::

    def test_something(fake_provider_server, make_provider):
        provider = make_provider(kind="anthropic")
        fake_provider_server.structured_answers.append({"label": "spam"})
        fake_provider_server.fail_next("/v1/models", status=401)
        fake_provider_server.fail_next("/chat/completions", raw=b"{not json")
        fake_provider_server.fail_next("/v1/models", delay=2.0)  # a slow answer
        fake_provider_server.requests[-1].json  # or ["json"]: what the SDK sent
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

FAKE_API_KEY = "sk-fake-test-key-0000abcd"

DEFAULT_MODELS = {
    "openai": ["gpt-4o-mini", "gpt-4.1-mini", "gpt-4o-mini-2024-07-18"],
    "anthropic": ["claude-sonnet-4-6", "claude-haiku-4-5"],
    "gemini": ["gemini-2.5-flash", "gemini-2.5-pro"],
}

# The job walks one step per retrieve, as a real job appears to a poller.
FINE_TUNE_STEPS = ["validating_files", "queued", "running", "succeeded"]
TERMINAL_STATUSES = {"succeeded", "failed", "cancelled"}


class Headers(dict):
    """Request headers with case-insensitive lookups (HTTP header names are)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__((str(k).lower(), v) for k, v in dict(items).items())

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return super().__contains__(str(name).lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass
class RecordedRequest:
    """One request as the server received it. Readable as attributes or as a dict."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers  # case-insensitive: headers["Authorization"] == headers["authorization"]
    json: Any
    body: bytes
    api: str  # "openai", "anthropic" or "gemini"

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)


@dataclass
class _Failure:
    path_substring: str
    status: int | None
    body: Any
    raw: bytes | None
    delay: float | None
    headers: dict[str, str]


@dataclass
class _State:
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    structured_answers: list[dict] = field(default_factory=list)
    text_answers: list[str] = field(default_factory=list)
    models: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_MODELS.items()}
    )
    files: dict[str, dict] = field(default_factory=dict)
    jobs: dict[str, dict] = field(default_factory=dict)
    job_events: dict[str, list[dict]] = field(default_factory=dict)
    fine_tune_outcome: str = "succeeded"


class FakeProviderServer:
    """The handle tests get: the server's URL, what it received, and knobs for its answers."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._state = _State()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeProviderServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    # --- what tests read and set ----------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests

    @property
    def structured_answers(self) -> list[dict]:
        """Answers for the next chat/messages/generateContent calls, in each wire format."""
        return self._state.structured_answers

    @structured_answers.setter
    def structured_answers(self, value: list[dict]) -> None:
        self._state.structured_answers = list(value)

    @property
    def text_answers(self) -> list[str]:
        """Plain-text answers for the next completions (used when no structured answer waits)."""
        return self._state.text_answers

    @text_answers.setter
    def text_answers(self, value: list[str]) -> None:
        self._state.text_answers = list(value)

    @property
    def models(self) -> dict[str, list[str]]:
        """Model ids listed per API: {"openai": [...], "anthropic": [...], "gemini": [...]}."""
        return self._state.models

    @property
    def files(self) -> dict[str, dict]:
        """Uploaded files by id: {"filename", "purpose", "content": bytes}."""
        return self._state.files

    @property
    def jobs(self) -> dict[str, dict]:
        """Fine-tuning jobs by id, as the API would return them."""
        return self._state.jobs

    @property
    def fine_tune_outcome(self) -> str:
        return self._state.fine_tune_outcome

    @fine_tune_outcome.setter
    def fine_tune_outcome(self, value: str) -> None:
        if value not in {"succeeded", "failed"}:
            raise ValueError("fine_tune_outcome is 'succeeded' or 'failed'")
        self._state.fine_tune_outcome = value

    def fail_next(
        self,
        path_substring: str,
        *,
        status: int | None = None,
        body: Any = None,
        raw: bytes | str | None = None,
        delay: float | None = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next ``times`` requests whose path contains ``path_substring`` misbehave.

        ``status`` alone answers with that status and an error body in the API's own format;
        ``body`` replaces that JSON body; ``raw`` sends these bytes as the body (malformed
        JSON), with status 200 unless ``status`` is given; ``delay`` waits that many seconds
        first (alone: a slow but otherwise normal answer). SDKs retry 408/429/5xx, so set
        ``settings.PROVIDER_MAX_RETRIES = 0`` or ``times`` above the retries to see the error.
        """
        if status is None and body is None and raw is None and delay is None:
            raise ValueError("fail_next needs a status, body, raw or delay")
        if isinstance(raw, str):
            raw = raw.encode()
        failure = _Failure(path_substring, status, body, raw, delay, dict(headers or {}))
        with self._lock:
            self._state.failures.extend([failure] * times)

    def requests_to(self, path_substring: str) -> list[RecordedRequest]:
        return [r for r in self.requests if path_substring in r.path]

    # --- internals used by the handler ----------------------------------------------------
    def _take_failure(self, path: str) -> _Failure | None:
        with self._lock:
            for i, failure in enumerate(self._state.failures):
                if failure.path_substring in path:
                    return self._state.failures.pop(i)
        return None

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self._ids):04d}"

    def _next_answer(self) -> tuple[str, Any]:
        with self._lock:
            if self._state.structured_answers:
                return "structured", self._state.structured_answers.pop(0)
            if self._state.text_answers:
                return "text", self._state.text_answers.pop(0)
        return "default", None


# --- wire formats --------------------------------------------------------------------------


def _error_body(api: str, status: int, message: str | None = None) -> dict:
    kinds = {
        400: ("invalid_request_error", "INVALID_ARGUMENT", "Invalid request."),
        401: ("authentication_error", "UNAUTHENTICATED", "Invalid API key provided."),
        403: ("permission_error", "PERMISSION_DENIED", "Permission denied."),
        404: ("not_found_error", "NOT_FOUND", "Not found."),
        408: ("timeout_error", "DEADLINE_EXCEEDED", "Request timed out."),
        429: ("rate_limit_error", "RESOURCE_EXHAUSTED", "Rate limit reached, slow down."),
        500: ("api_error", "INTERNAL", "The server had an error processing your request."),
        503: ("overloaded_error", "UNAVAILABLE", "The service is overloaded."),
    }
    anthropic_type, google_status, default_message = kinds.get(
        status, ("api_error", "UNKNOWN", f"Error {status}.")
    )
    message = message or default_message
    if api == "anthropic":
        return {"type": "error", "error": {"type": anthropic_type, "message": message}}
    if api == "gemini":
        return {"error": {"code": status, "message": message, "status": google_status}}
    openai_type = "invalid_request_error" if status < 500 else "server_error"
    code = {401: "invalid_api_key", 429: "rate_limit_exceeded", 404: "not_found"}.get(status)
    return {"error": {"message": message, "type": openai_type, "param": None, "code": code}}


def _detect_api(headers: dict[str, str], query: dict[str, list[str]], path: str) -> str:
    lower = {k.lower() for k in headers}
    if "anthropic-version" in lower or ("x-api-key" in lower and "/messages" in path):
        return "anthropic"
    if "x-goog-api-key" in lower or "key" in query or ":generatecontent" in path.lower():
        return "gemini"
    return "openai"


def _parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a multipart/form-data body: {name: (filename, bytes)}."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def _make_handler(server: FakeProviderServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

        # --- plumbing ---------------------------------------------------------------------
        def _send(
            self,
            status: int,
            payload: Any = None,
            *,
            raw: bytes | None = None,
            headers: dict[str, str] | None = None,
        ) -> None:
            data = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            # Retries in tests should be quick; the SDKs honour these.
            self.send_header("retry-after-ms", "10")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            # The client may have given up already (a timeout test).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            headers = Headers(self.headers.items())
            content_type = self.headers.get("Content-Type", "")
            parsed: Any = None
            if body and "json" in content_type:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
            api = _detect_api(headers, query, path)
            record = RecordedRequest(self.command, path, query, headers, parsed, body, api)
            with server._lock:
                server._state.requests.append(record)

            failure = server._take_failure(path)
            if failure is not None:
                if failure.delay:
                    time.sleep(failure.delay)
                if failure.raw is not None:
                    self._send(failure.status or 200, raw=failure.raw, headers=failure.headers)
                    return
                if failure.status is not None or failure.body is not None:
                    status = failure.status or 500
                    payload = failure.body if failure.body is not None else _error_body(api, status)
                    self._send(status, payload, headers=failure.headers)
                    return
            if not self._has_credentials(headers, query):
                self._send(401, _error_body(api, 401, "No API key provided."))
                return
            try:
                status, payload = self._route(api, path, parsed, body, content_type)
            except Exception as exc:  # a bug in the fake should read as a 500, not hang
                status, payload = 500, _error_body(api, 500, f"fake server error: {exc!r}")
            self._send(status, payload)

        def _has_credentials(self, headers: dict[str, str], query: dict[str, list[str]]) -> bool:
            lower = {k.lower(): v for k, v in headers.items()}
            auth = lower.get("authorization", "")
            return bool(
                auth.removeprefix("Bearer ").strip()
                or lower.get("x-api-key")
                or lower.get("x-goog-api-key")
                or query.get("key")
            )

        def _route(
            self, api: str, path: str, data: Any, body: bytes, content_type: str
        ) -> tuple[int, Any]:
            method = self.command
            if api == "gemini":
                if method == "GET" and path.rstrip("/").endswith("/models"):
                    return 200, {"models": [_gemini_model(m) for m in server.models["gemini"]]}
                if method == "POST" and ":generateContent" in path:
                    model = path.rsplit("/", 1)[-1].split(":", 1)[0]
                    return 200, self._gemini_generate(model, data or {})
                return 404, _error_body(api, 404)
            if api == "anthropic":
                if method == "GET" and path.rstrip("/").endswith("/models"):
                    return 200, _anthropic_models(server.models["anthropic"])
                if method == "POST" and path.endswith("/messages"):
                    return 200, self._anthropic_message(data or {})
                return 404, _error_body(api, 404)
            # OpenAI and OpenAI-compatible
            if method == "GET" and path.rstrip("/").endswith("/models"):
                return 200, {
                    "object": "list",
                    "data": [_openai_model(m) for m in server.models["openai"]],
                }
            if method == "POST" and path.endswith("/chat/completions"):
                return 200, self._openai_chat(data or {})
            if "/files" in path and method == "POST":
                return self._openai_file_upload(body, content_type)
            if "/fine_tuning/jobs" in path:
                return self._openai_fine_tuning(method, path, data or {})
            return 404, _error_body(api, 404)

        # --- completions ------------------------------------------------------------------
        def _answer_text(self, structured: bool) -> tuple[str, Any]:
            kind, answer = server._next_answer()
            if kind == "structured":
                return json.dumps(answer), answer
            if kind == "text":
                return answer, None
            if structured:
                return "{}", {}
            return "This is a fake completion.", None

        def _openai_chat(self, data: dict) -> dict:
            structured = (data.get("response_format") or {}).get("type") in {
                "json_schema",
                "json_object",
            }
            text, _ = self._answer_text(structured)
            return {
                "id": server._next_id("chatcmpl"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": data.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }

        def _anthropic_message(self, data: dict) -> dict:
            tool_choice = data.get("tool_choice") or {}
            tools = data.get("tools") or []
            forced_tool = tool_choice.get("name") if tool_choice.get("type") == "tool" else None
            if forced_tool is None and tool_choice.get("type") == "any" and tools:
                forced_tool = tools[0].get("name")
            if forced_tool:
                _, answer = self._answer_text(True)
                content = [
                    {
                        "type": "tool_use",
                        "id": server._next_id("toolu"),
                        "name": forced_tool,
                        "input": answer if isinstance(answer, dict) else {},
                    }
                ]
                stop_reason = "tool_use"
            else:
                text, _ = self._answer_text(False)
                content = [{"type": "text", "text": text}]
                stop_reason = "end_turn"
            return {
                "id": server._next_id("msg"),
                "type": "message",
                "role": "assistant",
                "model": data.get("model", ""),
                "content": content,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 5},
            }

        def _gemini_generate(self, model: str, data: dict) -> dict:
            config = data.get("generationConfig") or {}
            structured = config.get("responseMimeType") == "application/json"
            text, _ = self._answer_text(structured)
            return {
                "candidates": [
                    {
                        "content": {"parts": [{"text": text}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 10,
                    "candidatesTokenCount": 5,
                    "totalTokenCount": 15,
                },
                "modelVersion": model,
            }

        # --- OpenAI files and fine-tuning -------------------------------------------------
        def _openai_file_upload(self, body: bytes, content_type: str) -> tuple[int, Any]:
            fields = _parse_multipart(content_type, body)
            filename, content = fields.get("file", (None, b""))
            purpose = fields.get("purpose", (None, b""))[1].decode()
            if not filename or not content:
                return 400, _error_body("openai", 400, "A file is required.")
            file_id = server._next_id("file")
            server.files[file_id] = {"filename": filename, "purpose": purpose, "content": content}
            return 200, {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": filename,
                "purpose": purpose,
                "status": "processed",
            }

        def _openai_fine_tuning(self, method: str, path: str, data: dict) -> tuple[int, Any]:
            tail = path.split("/fine_tuning/jobs", 1)[1].strip("/")
            if method == "POST" and not tail:
                return self._job_create(data)
            job_id, _, action = tail.partition("/")
            job = server.jobs.get(job_id)
            if job is None:
                return 404, _error_body("openai", 404, f"Could not find fine-tune job: {job_id}")
            if method == "GET" and not action:
                self._job_advance(job)
                return 200, job
            if method == "GET" and action == "events":
                events = list(
                    reversed(server._state.job_events[job_id])
                )  # newest first, as the API does
                return 200, {"object": "list", "data": events, "has_more": False}
            if method == "POST" and action == "cancel":
                if job["status"] in TERMINAL_STATUSES:
                    return 400, _error_body("openai", 400, f"Job has already {job['status']}.")
                job["status"] = "cancelled"
                job["finished_at"] = int(time.time())
                self._job_event(job, "Fine-tuning job cancelled.")
                return 200, job
            return 404, _error_body("openai", 404)

        def _job_create(self, data: dict) -> tuple[int, Any]:
            training_file = data.get("training_file")
            if training_file not in server.files:
                return 400, _error_body("openai", 400, f"invalid training_file: {training_file}")
            if not data.get("model"):
                return 400, _error_body("openai", 400, "model is required.")
            method = data.get("method") or {}
            hyperparameters = (
                data.get("hyperparameters")
                or (method.get(method.get("type", "supervised")) or {}).get("hyperparameters")
                or {}
            )
            job_id = server._next_id("ftjob")
            job = {
                "id": job_id,
                "object": "fine_tuning.job",
                "model": data["model"],
                "created_at": int(time.time()),
                "finished_at": None,
                "fine_tuned_model": None,
                "organization_id": "org-fake",
                "result_files": [],
                "status": "validating_files",
                "validation_file": data.get("validation_file"),
                "training_file": training_file,
                "hyperparameters": {
                    "n_epochs": "auto",
                    "batch_size": "auto",
                    "learning_rate_multiplier": "auto",
                    **hyperparameters,
                },
                "method": method or {"type": "supervised"},
                "trained_tokens": None,
                "error": None,
                "seed": data.get("seed", 42),
                "suffix": data.get("suffix"),
            }
            server.jobs[job_id] = job
            server._state.job_events[job_id] = []
            self._job_event(job, f"Created fine-tuning job: {job_id}")
            self._job_event(job, f"Validating training file: {training_file}")
            return 200, job

        def _job_event(
            self, job: dict, message: str, *, level: str = "info", data: dict | None = None
        ) -> None:
            events = server._state.job_events[job["id"]]
            events.append(
                {
                    "object": "fine_tuning.job.event",
                    "id": server._next_id("ftevent"),
                    # Strictly increasing so "oldest first" is well defined.
                    "created_at": job["created_at"] + len(events),
                    "level": level,
                    "message": message,
                    "data": data or {},
                    "type": "metrics" if data else "message",
                }
            )

        def _job_advance(self, job: dict) -> None:
            if job["status"] in TERMINAL_STATUSES:
                return
            following = FINE_TUNE_STEPS[FINE_TUNE_STEPS.index(job["status"]) + 1]
            if following == "queued":
                self._job_event(job, "Files validated, moving job to queued state")
            elif following == "running":
                self._job_event(job, "Fine-tuning job started")
                for step, loss in ((1, 1.25), (2, 0.75), (3, 0.5)):
                    self._job_event(
                        job,
                        f"Step {step}/3: training loss={loss}",
                        data={"step": step, "train_loss": loss, "total_steps": 3},
                    )
            elif server.fine_tune_outcome == "failed":
                following = "failed"
                job["error"] = {
                    "code": "invalid_training_file",
                    "message": "The training file has too few examples: at least 10 are required.",
                    "param": "training_file",
                }
                self._job_event(job, job["error"]["message"], level="error")
            else:
                suffix = job.get("suffix") or "hub"
                job["fine_tuned_model"] = f"ft:{job['model']}:fake-org:{suffix}:{job['id'][-8:]}"
                job["trained_tokens"] = 1234
                self._job_event(job, f"New fine-tuned model created: {job['fine_tuned_model']}")
                self._job_event(job, "The job has successfully completed")
            if following in TERMINAL_STATUSES:
                job["finished_at"] = int(time.time())
            job["status"] = following

    return Handler


def _openai_model(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}


def _anthropic_models(ids: list[str]) -> dict:
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
        for m in ids
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
    }


def _gemini_model(model_id: str) -> dict:
    return {
        "name": f"models/{model_id}",
        "displayName": model_id,
        "version": "001",
        "supportedGenerationMethods": ["generateContent", "countTokens"],
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
    }


# --- pytest fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def _fake_provider_server_session() -> Iterator[FakeProviderServer]:
    server = FakeProviderServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_provider_server(
    _fake_provider_server_session: FakeProviderServer,
) -> Iterator[FakeProviderServer]:
    _fake_provider_server_session.reset()
    yield _fake_provider_server_session
    _fake_provider_server_session.reset()


@pytest.fixture
def make_provider(db, fake_provider_server: FakeProviderServer):
    """make_provider(kind="openai", api_key=FAKE_API_KEY, **fields) -> an active Provider
    with an encrypted key, pointing at the fake server."""
    from providers.models import Provider
    from providers.services import provider_set_key

    counter = itertools.count(1)

    def make(kind: str = "openai", *, api_key: str = FAKE_API_KEY, **fields: Any) -> Provider:
        root = fake_provider_server.url
        base_url = f"{root}/v1" if kind in {"openai", "openai_compatible"} else root
        defaults = {
            "name": f"Fake {kind} {next(counter)}",
            "base_url": base_url,
            "default_model": DEFAULT_MODELS.get(kind, DEFAULT_MODELS["openai"])[0],
            "is_active": True,
        }
        provider = Provider.objects.create(kind=kind, **{**defaults, **fields})
        if api_key:
            provider_set_key(provider=provider, api_key=api_key)
        return provider

    return make
