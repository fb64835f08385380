"""A typed Python client generated from /api/schema/ (openapi-python-client) predicts and
sends feedback: the schema is a contract a generated client can trust."""

import importlib
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _generate(server, folder: Path) -> None:
    request = urllib.request.Request(
        f"{server.url}/api/schema/?format=json",
        headers={"Authorization": f"Bearer {server.key}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        (folder / "schema.json").write_bytes(response.read())
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            "schema.json",
            "--meta",
            "none",
            "--output-path",
            "model_hub_client",
        ],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.contract
def test_a_generated_client_predicts_and_sends_feedback(contract_server, tmp_path, monkeypatch):
    _generate(contract_server, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    client_module = importlib.import_module("model_hub_client")
    predict = importlib.import_module("model_hub_client.api.v1.group_predict")
    feedback = importlib.import_module("model_hub_client.api.v1.group_feedback")
    models = importlib.import_module("model_hub_client.models")

    client = client_module.AuthenticatedClient(
        base_url=contract_server.url, token=contract_server.key
    )
    inputs = dict.fromkeys(contract_server.features, 1.0)
    body = models.PredictOne.from_dict({"inputs": inputs, "routing_key": "applicant-7"})
    answer = predict.sync(client=client, slug=contract_server.group_slug, body=body)

    assert answer.request_id
    assert 0.0 <= answer.score <= 1.0
    assert set(answer.explanation.to_dict()) == set(contract_server.features)

    sent = feedback.sync(
        client=client,
        slug=contract_server.group_slug,
        body=models.FeedbackOne.from_dict({"request_id": str(answer.request_id), "outcome": 1}),
    )

    assert not isinstance(sent, models.Error), sent.to_dict()
    assert sent.status.value == "recorded"
