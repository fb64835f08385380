"""Batch prediction through `manage.py batch_predict <group> <file> --inline` (issue 16): a
CSV and a JSON Lines file come back row for row in input order, `--shadow-columns` adds the
shadow's answers, and every row's answer is the one the online endpoint gives for it."""

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.roles import roles_sync
from inference.batch.scoring import row_request_id
from inference.models import BatchJob, BatchStatus
from registry.artifacts import artifact_load
from registry.demo import CREDIT_FEATURES
from tests.inference.serving_factories import credit_rows, log_model, post, serving_group

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles(db):
    from django.contrib.auth.models import Group, Permission

    roles_sync(Group, Permission)


@pytest.fixture
def setup():
    return serving_group(name="Batch Command Credit", weights=(50, 50), shadow=True)


def _frame(rows: int, seed: int = 23) -> pd.DataFrame:
    frame = pd.DataFrame(credit_rows(rows, seed=seed))
    frame.insert(0, "applicant", [f"applicant-{i}" for i in range(rows)])
    frame["branch"] = [f"branch-{i % 3}" for i in range(rows)]
    return frame


def _predict(setup, path: Path, *args: str) -> tuple[BatchJob, Path, str]:
    """Run the command inline; (the job, the result file, what the command printed)."""
    output = path.with_name(f"result-{path.name}")
    out = io.StringIO()
    call_command(
        "batch_predict",
        setup.group.slug,
        str(path),
        "--inline",
        "--output",
        str(output),
        *args,
        stdout=out,
    )
    job = BatchJob.objects.get(file_name=path.name)
    return job, output, out.getvalue()


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_csv_comes_back_with_the_same_rows_in_order(setup, tmp_path):
    frame = _frame(25)
    path = tmp_path / "portfolio.csv"
    frame.to_csv(path, index=False)

    job, output, printed = _predict(setup, path, "--key-column", "applicant")

    assert f"Batch {job.pk} queued (portfolio.csv)." in printed
    assert f"Batch {job.pk} succeeded: 25 ok, 0 failed" in printed
    assert (job.status, job.rows_total, job.rows_ok, job.rows_failed) == ("succeeded", 25, 25, 0)
    result = pd.read_csv(output)
    assert len(result) == 25
    assert result["row"].tolist() == list(range(25))
    assert result["applicant"].tolist() == frame["applicant"].tolist()
    assert result["branch"].tolist() == frame["branch"].tolist()
    for name in CREDIT_FEATURES:
        assert result[name].tolist() == pytest.approx(frame[name].tolist(), abs=1e-9)
    assert result["score"].between(0, 1).all() and result["error"].isna().all()
    assert set(result["role"]) <= {"champion", "challenger"}
    # Logged as batch rows of the group, one per routed row (and one per shadow answer).
    routed = log_model(setup.group).all_rows.filter(batch_id=job.pk).exclude(role="shadow")
    assert sorted(routed.values_list("routing_key", flat=True)) == sorted(frame["applicant"])


def test_a_json_lines_file_is_scored_and_answered_as_json_lines(setup, tmp_path):
    frame = _frame(12)
    records = frame.to_dict("records")
    del records[5][CREDIT_FEATURES[1]]  # one broken record: an error in its place
    path = tmp_path / "customers.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))

    job, output, _ = _predict(setup, path, "--key-column", "applicant")

    assert (job.input_format, job.output_format) == ("jsonl", "jsonl")
    assert (job.status, job.rows_ok, job.rows_failed) == ("succeeded", 11, 1)
    lines = _read_jsonl(output)
    assert [line["row"] for line in lines] == list(range(12))
    assert [line["applicant"] for line in lines] == frame["applicant"].tolist()
    assert lines[5]["error"] == f"{CREDIT_FEATURES[1]}: missing"
    assert lines[5]["score"] is None and lines[5]["prediction"] is None
    ok = lines[:5] + lines[6:]
    assert all(not line["error"] and 0 <= line["score"] <= 1 for line in ok)


@pytest.mark.xfail(
    strict=True,
    reason="JSON Lines input cells are read as text (inference/batch/files.py _json_cell), "
    "so kept numbers come back as strings",
)
def test_json_lines_input_columns_come_back_with_their_json_types(setup, tmp_path):
    frame = _frame(4)
    frame["customer_id"] = [1001, 1002, 1003, 1004]
    path = tmp_path / "typed.jsonl"
    frame.to_json(path, orient="records", lines=True)

    _, output, _ = _predict(setup, path, "--key-column", "applicant")

    lines = _read_jsonl(output)
    assert [line["customer_id"] for line in lines] == [1001, 1002, 1003, 1004]
    assert lines[0][CREDIT_FEATURES[0]] == frame.loc[0, CREDIT_FEATURES[0]]


def test_the_output_format_option_turns_json_lines_into_csv(setup, tmp_path):
    path = tmp_path / "customers.jsonl"
    _frame(6).to_json(path, orient="records", lines=True)

    job, output, _ = _predict(setup, path, "--output-format", "csv", "--no-log")

    assert job.output_format == "csv" and not job.log
    result = pd.read_csv(output)
    assert result["row"].tolist() == list(range(6))
    assert not log_model(setup.group).all_rows.filter(batch_id=job.pk).exists()


def test_shadow_columns_add_the_shadows_own_answer_to_every_row(setup, tmp_path):
    frame = _frame(15)
    path = tmp_path / "with-shadow.csv"
    frame.to_csv(path, index=False)
    plain_path = tmp_path / "without-shadow.csv"
    frame.to_csv(plain_path, index=False)

    _, plain_output, _ = _predict(setup, plain_path)
    job, output, _ = _predict(setup, path, "--shadow-columns")

    assert not [c for c in pd.read_csv(plain_output).columns if c.startswith("shadow_")]
    result = pd.read_csv(output)
    shadow = setup.shadow.pk
    assert [c for c in result.columns if c.startswith("shadow_")] == [
        f"shadow_{shadow}_prediction",
        f"shadow_{shadow}_score",
    ]
    expected = artifact_load(setup.shadow).predict_proba(frame[CREDIT_FEATURES])[:, 1]
    assert result[f"shadow_{shadow}_score"].tolist() == pytest.approx(expected, abs=1e-9)
    assert result[f"shadow_{shadow}_prediction"].tolist() == (expected >= 0.5).astype(int).tolist()
    # The served columns stay the routed member's, never the shadow's.
    assert "shadow" not in set(result["role"])
    logged = log_model(setup.group).all_rows.filter(batch_id=job.pk, role="shadow")
    assert logged.count() == 15


def test_every_row_answers_as_the_online_endpoint_does_for_its_key(client, setup, tmp_path):
    frame = _frame(16)
    path = tmp_path / "keys.csv"
    frame.to_csv(path, index=False)

    job, output, _ = _predict(setup, path, "--key-column", "applicant")
    result = pd.read_csv(output)

    assert set(result["model_version"].astype(str)) == {"1.2", "1.3"}  # both members met
    for i, row in result.iterrows():
        inputs = {name: float(frame.loc[i, name]) for name in CREDIT_FEATURES}
        answer = post(
            client,
            setup.predict_url,
            {"inputs": inputs, "routing_key": row["applicant"]},
            setup.key,
        ).json()
        assert answer["model"]["name"] == row["model_name"]
        assert answer["model"]["version"] == str(row["model_version"])
        assert answer["role"] == row["role"]
        assert answer["prediction"] == row["prediction"]
        assert answer["score"] == pytest.approx(row["score"], abs=1e-9)
        assert answer["base_value"] == pytest.approx(row["base_value"], abs=1e-9)
        shap = {name: row[f"shap_{name}"] for name in CREDIT_FEATURES}
        assert answer["explanation"] == pytest.approx(shap, abs=1e-9)
        logged = log_model(setup.group).all_rows.get(request_id=row_request_id(job.pk, i))
        assert logged.model_version_id == answer["model"]["id"]


def test_an_unknown_group_or_file_is_a_command_error_and_queues_nothing(setup, tmp_path):
    path = tmp_path / "a.csv"
    _frame(3).to_csv(path, index=False)

    with pytest.raises(CommandError, match="No group 'nowhere'"):
        call_command("batch_predict", "nowhere", str(path), "--inline")
    with pytest.raises(CommandError, match="No file"):
        call_command("batch_predict", setup.group.slug, str(tmp_path / "gone.csv"), "--inline")
    broken = tmp_path / "short.csv"
    _frame(3).drop(columns=[CREDIT_FEATURES[0]]).to_csv(broken, index=False)
    with pytest.raises(CommandError, match=CREDIT_FEATURES[0]):
        call_command("batch_predict", setup.group.slug, str(broken), "--inline")
    assert not BatchJob.objects.exclude(status=BatchStatus.QUEUED).exists()
    assert not BatchJob.objects.exists()
