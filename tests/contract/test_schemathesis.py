"""schemathesis (--checks all) against our own OpenAPI schema, on a live server: every
response must be one the schema documents, in the shape it documents; every request the
schema allows must be accepted and every request it forbids refused."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CSRF = "contract-csrf-token-0123456789abcdef0123"


def _run(server, headers: list[str], workdir: Path) -> subprocess.CompletedProcess:
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
    # In a fresh directory: schemathesis keeps a cache of past failures (.schemathesis/) in
    # its working directory and replays them; a run must depend on the seed alone.
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=env, cwd=workdir
    )


@pytest.mark.contract
def test_schemathesis_finds_no_failure_with_an_api_key(contract_server, tmp_path):
    result = _run(contract_server, [f"Authorization: Bearer {contract_server.key}"], tmp_path)

    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:]


@pytest.mark.contract
def test_schemathesis_finds_no_failure_with_a_staff_session(contract_server, tmp_path):
    cookie = f"{contract_server.session_cookie}; csrftoken={CSRF}"
    result = _run(contract_server, [f"Cookie: {cookie}", f"X-CSRFToken: {CSRF}"], tmp_path)

    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:]


def test_the_operations_allowed_a_4xx_exist():
    """schemathesis.toml names operations by id: a renamed operation would silently lose its
    allowance (and a stale id allow nothing), so every listed id must be in the schema."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    ids = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    config = tomllib.loads((HERE / "schemathesis.toml").read_text())
    for block in config["operations"]:
        listed = re.fullmatch(r"\^\((.*)\)\$", block["include-operation-id-regex"])
        assert listed, block["include-operation-id-regex"]
        assert set(listed.group(1).split("|")) <= ids, set(listed.group(1).split("|")) - ids
