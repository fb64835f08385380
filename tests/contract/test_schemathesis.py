"""schemathesis (--checks all) against our own OpenAPI schema, on a live server: every
response must be one the schema documents, in the shape it documents; every request the
schema allows must be accepted and every request it forbids refused."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CSRF = "contract-csrf-token-0123456789abcdef0123"


def _run(server, headers: list[str]) -> subprocess.CompletedProcess:
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{server.url}/api/schema/",
        "--checks",
        "all",
        "--seed",
        "20261201",
        "--max-examples",
        "6",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-shrink",
        "--warnings",
        "off",
    ]
    for header in headers:
        command += ["--header", header]
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


# Issue 12 is open on this point: the run finds 40 failures today (schema-valid multipart and
# foreign-id bodies refused, public schema endpoints that ignore bad credentials, a few
# response shapes). Strict: the day they are fixed, the XPASS fails and this mark goes.
KNOWN_FAILURES = pytest.mark.xfail(
    strict=True, reason="issue 12: 40 schemathesis failures remain (see the closing note)"
)


@KNOWN_FAILURES
@pytest.mark.contract
def test_schemathesis_finds_no_failure_with_an_api_key(contract_server):
    result = _run(contract_server, [f"Authorization: Bearer {contract_server.key}"])

    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:]


@KNOWN_FAILURES
@pytest.mark.contract
def test_schemathesis_finds_no_failure_with_a_staff_session(contract_server):
    cookie = f"{contract_server.session_cookie}; csrftoken={CSRF}"
    result = _run(contract_server, [f"Cookie: {cookie}", f"X-CSRFToken: {CSRF}"])

    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:]
