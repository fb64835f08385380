"""The validation report: a printable page and a PDF with the inventory fields, metrics
with intervals, charts drawn server-side, and every decision with its evidence."""

import io

import pytest
from pypdf import PdfReader

from governance import services
from governance.models import ReportJob, ReportStatus
from governance.reports import auc_interval
from governance.svg import chart_svg
from groups.models import RoleChange
from groups.services import group_promote

pytestmark = pytest.mark.django_db


def _text(pdf: bytes) -> str:
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(text.split())  # table cells wrap words onto several lines


def _report_after_promotion(client, viewer, demo) -> tuple[object, str]:
    v13 = demo.versions["1.3"]
    group_promote(group=demo.group, model_version=v13, actor=demo.owner, reason="Better AUC")
    client.force_login(viewer)
    response = client.get("/api/v1/models/credit-scoring/versions/1.3/report.pdf")
    assert response.status_code == 200
    return response, _text(response.content)


def test_the_report_of_1_3_is_a_pdf_with_its_auc_and_owner(client, viewer, demo):
    response, text = _report_after_promotion(client, viewer, demo)

    assert response["Content-Type"] == "application/pdf"
    auc = demo.versions["1.3"].metadata["metrics"]["auc_roc"]
    assert f"auc_roc {auc:.4f}" in text  # the hold-out AUC, with its interval next to it
    assert f"Owner {demo.owner.username}" in text
    assert f"Validator {demo.validator.username}" in text


def test_the_report_of_1_3_shows_its_promotion_with_the_evidence(client, viewer, demo):
    _, text = _report_after_promotion(client, viewer, demo)

    assert "Live Credit Scoring · Promoted to champion" in text
    assert "From Credit Scoring 1.2 to Credit Scoring 1.3" in text
    assert "Reason: Better AUC" in text
    # The evidence's numbers: 1.3's live AUC as it stood when it was promoted, and its test.
    evidence = RoleChange.objects.get(action="promote").evidence
    live = next(m for m in evidence["comparison"]["members"] if m["version"] == "1.3")
    assert f"Evidence recorded {evidence['recorded_at']}" in text
    assert f"auc {live['metrics']['auc']['value']:.3f}" in text


def test_the_report_page_is_printable_and_links_the_pdf(client, viewer, demo):
    client.force_login(viewer)

    page = client.get("/models/credit-scoring/versions/1.3/report/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "Validation report: Credit Scoring 1.3" in html
    assert "/models/credit-scoring/versions/1.3/report.pdf" in html
    assert "<svg" in html  # the charts, drawn server-side
    assert "Live Credit Scoring" in html


def test_a_read_key_downloads_the_report(client, read_key, demo):
    response = client.get("/api/v1/models/credit-scoring/versions/1.2/report.pdf", **read_key)

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_a_large_report_is_built_as_a_job_with_progress(
    client, viewer, demo, settings, django_capture_on_commit_callbacks
):
    settings.HUB_REPORT_INLINE_MAX_ROWS = 10
    client.force_login(viewer)

    with django_capture_on_commit_callbacks() as queued:
        started = client.get("/api/v1/models/credit-scoring/versions/1.3/report.pdf")
    job_id = started.json()["id"]
    services.report_job_run(job_id=job_id)  # what the worker runs
    status = client.get(f"/api/v1/report-jobs/{job_id}").json()
    pdf = client.get(f"/api/v1/report-jobs/{job_id}/pdf")

    assert started.status_code == 202
    assert len(queued) == 1
    assert (status["status"], status["progress"]) == (ReportStatus.DONE, 100)
    assert pdf.status_code == 200
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")


def test_an_unfinished_job_has_no_pdf_yet(client, viewer, demo):
    job = ReportJob.objects.create(model_version=demo.versions["1.3"])
    client.force_login(viewer)

    response = client.get(f"/api/v1/report-jobs/{job.pk}/pdf")
    page = client.get(f"/reports/{job.pk}/")

    assert response.status_code == 409
    assert page.status_code == 200
    assert "Queued" in page.content.decode()


def test_anonymous_callers_get_no_report(client, demo):
    assert client.get("/api/v1/models/credit-scoring/versions/1.3/report.pdf").status_code == 401


def test_auc_interval_contains_the_auc_and_narrows_with_rows():
    small = auc_interval(0.8, 20, 80)
    large = auc_interval(0.8, 2000, 8000)

    assert small[0] < 0.8 < small[1]
    assert large[1] - large[0] < small[1] - small[0]
    assert auc_interval(0.8, 0, 10) is None


def test_chart_svg_draws_lines_and_bars_and_escapes_text():
    roc = chart_svg(
        {
            "kind": "roc",
            "title": "ROC <1.3>",
            "datasets": [{"label": "a", "data": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]}],
        }
    )
    bars = chart_svg({"kind": "bars", "title": "t", "labels": ["x"], "datasets": [{"data": [2]}]})

    assert "<polyline" in roc
    assert "ROC &lt;1.3&gt;" in roc
    assert "<rect" in bars
    assert chart_svg({"kind": "roc", "datasets": []}) == ""


def test_the_report_shows_the_recipe_gate_against_its_thresholds(client, viewer, demo):
    version = demo.versions["1.3"]
    version.metadata["training"]["evaluation_gate"] = {
        "passed": False,
        "metrics": [
            {
                "name": "auc",
                "label": "AUC",
                "value": 0.81,
                "threshold": 0.85,
                "direction": "higher_is_better",
                "passed": False,
            },
        ],
    }
    version.save(update_fields=["metadata"])
    client.force_login(viewer)

    html = client.get("/models/credit-scoring/versions/1.3/report/").content.decode()

    assert (
        '<td>training hold-out</td><td>AUC</td><td class="num">0.8100</td><td>≥ 0.8500</td><td>fail</td>'
        in html
    )
