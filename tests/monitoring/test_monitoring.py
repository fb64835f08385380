"""References, snapshots, rules and alerts through the API and services, as users see them."""

import numpy as np
import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from scipy import stats

from core import roles
from monitoring import alerts
from monitoring.models import Alert, AlertRule, AlertStatus, Reference, Snapshot
from tests.factories import role_user
from tests.inference.serving_factories import serving_group
from tests.monitoring.helpers import csv_upload, logged_values, send_traffic

pytestmark = pytest.mark.django_db


def _reference_url(version) -> str:
    return f"/api/v1/models/{version.model.slug}/versions/{version.version}/reference"


def _upload(client, version, rows: int):
    return client.generic("PUT", _reference_url(version), **_multipart({"file": csv_upload(rows)}))


def _multipart(data: dict) -> dict:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    return {"data": encode_multipart(BOUNDARY, data), "content_type": MULTIPART_CONTENT}


def _income(client, setup, version):
    response = client.get(f"/api/v1/groups/{setup.group.slug}/monitoring?window=24h")
    assert response.status_code == 200, response.content
    member = next(m for m in response.json()["members"] if m["model_version"] == version.pk)
    return member, next(f for f in member["drift"]["features"] if f["name"] == "income")


def _assert_shape(member: dict, setup) -> None:
    """The issue's answer shape, and the health count of the member's logged rows."""
    assert set(member) >= {
        "model_version",
        "role",
        "window_start",
        "window_end",
        "drift",
        "prediction_drift",
        "quality",
        "health",
        "performance",
    }
    assert set(member["drift"]) >= {"features", "share_drifted", "dataset_drifted", "weighted"}
    assert member["health"]["requests"] == len(logged_values(setup.group, setup.champion, "income"))
    assert member["drift"]["shap_share"]["income"] > 0


def test_small_csv_reference_and_shifted_income_drift_by_ks_equal_to_scipy(user_client):
    setup = serving_group()
    upload = _upload(user_client, setup.champion, 800)
    assert upload.status_code == 200, upload.content
    assert upload.json()["rows"] == 800 and "income" in upload.json()["features"]
    send_traffic(user_client, setup, count=300)

    run = user_client.post(f"/api/v1/groups/{setup.group.slug}/monitoring/run")
    assert run.status_code == 200, run.content
    member, income = _income(user_client, setup, setup.champion)

    reference = np.array(
        Reference.objects.get(model_version=setup.champion).sample["income"], dtype=float
    )
    expected = stats.ks_2samp(reference, logged_values(setup.group, setup.champion, "income"))
    assert income["method"] == "ks" and income["drifted"] is True
    assert income["statistic"] == pytest.approx(expected.statistic, abs=1e-9)
    assert income["p_value"] == pytest.approx(expected.pvalue, abs=1e-9)
    assert income["reference_rows"] == 800
    _assert_shape(member, setup)


def test_large_reference_uses_normed_wasserstein_equal_to_scipy_over_reference_std(user_client):
    setup = serving_group()
    assert _upload(user_client, setup.champion, 3000).status_code == 200
    send_traffic(user_client, setup, count=200)
    user_client.post(f"/api/v1/groups/{setup.group.slug}/monitoring/run")
    _, income = _income(user_client, setup, setup.champion)

    reference = np.array(
        Reference.objects.get(model_version=setup.champion).sample["income"], dtype=float
    )
    current = logged_values(setup.group, setup.champion, "income")
    expected = stats.wasserstein_distance(reference, current) / np.std(reference, ddof=0)
    assert income["method"] == "wasserstein" and income["p_value"] is None
    assert income["statistic"] == pytest.approx(expected, abs=1e-9)
    assert income["drifted"] is True


def test_reference_upload_is_refused_when_too_big_or_lacking_features(user_client, settings):
    setup = serving_group()
    settings.HUB_MONITORING_REFERENCE_MAX_BYTES = 1000
    response = _upload(user_client, setup.champion, 200)
    assert response.status_code == 400 and "file" in response.json()["errors"]
    settings.HUB_MONITORING_REFERENCE_MAX_BYTES = 10**7
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("bad.csv", b"a,b\n1,2\n", content_type="text/csv")
    lacking = user_client.generic(
        "PUT", _reference_url(setup.champion), **_multipart({"file": bad})
    )
    assert lacking.status_code == 400 and "income" in lacking.json()["message"]


def test_reference_from_a_window_of_live_traffic(user_client):
    setup = serving_group()
    send_traffic(user_client, setup, count=100, income_factor=1.0)
    from django.utils import timezone

    now = timezone.now()
    response = user_client.post(
        f"/api/v1/groups/{setup.group.slug}/monitoring/reference",
        {
            "model_version": setup.champion.pk,
            "start": (now.replace(year=now.year - 1)).isoformat(),
            "end": now.isoformat(),
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    reference = Reference.objects.get(model_version=setup.champion)
    assert reference.source == "live" and reference.rows == len(
        logged_values(setup.group, setup.champion, "age")
    )
    assert reference.shap_share and sum(reference.shap_share.values()) == pytest.approx(1.0)


def test_viewer_reads_but_may_not_run_or_make_rules_and_other_team_operator_may_not_run(
    client, viewer, other_team
):
    setup = serving_group()
    client.force_login(viewer)
    assert client.get(f"/api/v1/groups/{setup.group.slug}/monitoring").status_code == 200
    assert client.post(f"/api/v1/groups/{setup.group.slug}/monitoring/run").status_code == 403
    rule = {"group": setup.group.slug, "name": "x", "metric": "drift.share", "threshold": 0.5}
    assert (
        client.post("/api/v1/monitoring/rules/", rule, content_type="application/json").status_code
        == 403
    )
    assert (
        client.generic(
            "PUT", _reference_url(setup.champion), **_multipart({"file": csv_upload(10)})
        ).status_code
        == 403
    )
    client.force_login(role_user(roles.OPERATOR, team=other_team))
    assert client.post(f"/api/v1/groups/{setup.group.slug}/monitoring/run").status_code == 403


def test_default_rules_are_made_by_the_first_run_and_a_rule_opens_then_resolves_an_alert(
    user_client, django_capture_on_commit_callbacks
):
    setup = serving_group()
    _upload(user_client, setup.champion, 800)
    send_traffic(user_client, setup, count=200)
    created = user_client.post(
        "/api/v1/monitoring/rules/",
        {
            "group": setup.group.slug,
            "name": "Income drift",
            "metric": "drift.feature:income",
            "operator": ">=",
            "threshold": 1,
            "windows": 1,
            "model_version": setup.champion.pk,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    with django_capture_on_commit_callbacks(execute=True):
        user_client.post(f"/api/v1/groups/{setup.group.slug}/monitoring/run")
    assert AlertRule.objects.filter(group=setup.group, metric="drift.share").exists()
    assert AlertRule.objects.filter(group=setup.group, metric="health.error_rate").exists()

    listed = user_client.get(
        "/api/v1/monitoring/alerts/?open=true&group=" + setup.group.slug
    ).json()
    assert listed["count"] == 1 and "Income drift" in listed["results"][0]["title"]
    assert any("Income drift" in m.subject and "opened" in m.subject for m in mail.outbox)

    # Resolved by itself once the rule stops holding.
    AlertRule.objects.filter(metric="drift.feature:income").update(threshold=2)
    with django_capture_on_commit_callbacks(execute=True):
        user_client.post(f"/api/v1/groups/{setup.group.slug}/monitoring/run")
    alert = Alert.objects.get(source__startswith="rule:")
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_at is not None
    assert any("resolved" in m.subject for m in mail.outbox)


def test_alert_open_resolve_and_acknowledge_with_a_note(user_client, viewer):
    setup = serving_group()
    alert = alerts.alert_open(
        group=setup.group,
        title="Guardrail breached",
        severity="critical",
        source="rollout:7",
        evidence={"p": 0.01},
        member=setup.challenger,
    )
    again = alerts.alert_open(
        group=setup.group,
        title="Guardrail breached",
        severity="critical",
        source="rollout:7",
        evidence={"p": 0.001},
        member=setup.challenger,
    )
    assert again.pk == alert.pk and again.evidence == {"p": 0.001}

    client = Client()
    client.force_login(viewer)
    url = f"/api/v1/monitoring/alerts/{alert.pk}/acknowledge"
    assert client.post(url, {"note": "x"}, content_type="application/json").status_code == 403
    response = user_client.post(url, {"note": "Looking at it"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"
    assert response.json()["note"] == "Looking at it"

    assert alerts.alert_resolve(group=setup.group, source="rollout:7") == 1
    assert Alert.objects.get().status == AlertStatus.RESOLVED
    assert user_client.get("/api/v1/monitoring/alerts/?status=nonsense").status_code == 400


def test_webhooks_refuse_private_targets_and_never_return_the_secret(user_client, settings):
    settings.HUB_WEBHOOK_ALLOW_PRIVATE = False
    body = {
        "url": "http://127.0.0.1:9/hook",
        "secret": "s3cret-s3cret-s3cret",
        "events": ["alert.opened"],
    }
    refused = user_client.post(
        "/api/v1/monitoring/webhooks/", body, content_type="application/json"
    )
    assert refused.status_code == 400 and "private" in refused.json()["errors"]["url"][0]
    settings.HUB_WEBHOOK_ALLOW_PRIVATE = True
    made = user_client.post("/api/v1/monitoring/webhooks/", body, content_type="application/json")
    assert made.status_code == 201, made.content
    listed = user_client.get("/api/v1/monitoring/webhooks/")
    assert "s3cret" not in made.content.decode() + listed.content.decode()


def test_monitor_run_command_backfills_daily_windows(user_client, capsys):
    setup = serving_group()
    send_traffic(user_client, setup, count=50)
    call_command("monitor_run", "--group", setup.group.slug, "--backfill-days", "2")
    assert Snapshot.objects.filter(group=setup.group, period="24h").count() == 2 * 3
    assert "no reference" in capsys.readouterr().out


def test_monitoring_tab_shows_heatmap_methods_and_alerts_and_hides_buttons_from_viewers(
    user_client, viewer
):
    setup = serving_group()
    _upload(user_client, setup.champion, 800)
    send_traffic(user_client, setup, count=150)
    AlertRule.objects.create(
        group=setup.group, name="Income drift", metric="drift.feature:income", threshold=1
    )
    user_client.post(f"/api/v1/groups/{setup.group.slug}/monitoring/run")
    page = user_client.get(f"/groups/{setup.group.slug}/monitoring/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'class="heatmap"' in html and "drift-yes" in html and "Kolmogorov-Smirnov" in html
    assert "Income drift" in html and "Run monitoring now" in html and "Acknowledge" in html
    assert (
        "No reference yet for" in html
    )  # the challenger has none: the empty state says what to do
    client = Client()
    client.force_login(viewer)
    html = client.get(f"/groups/{setup.group.slug}/monitoring/").content.decode()
    assert (
        "Income drift" in html and "Run monitoring now" not in html and ">Acknowledge<" not in html
    )


def test_version_page_uploads_a_reference(user_client):
    setup = serving_group()
    url = f"/models/{setup.champion.model.slug}/versions/{setup.champion.version}/monitoring/"
    assert "No reference yet" in user_client.get(url).content.decode()
    response = user_client.post(url, {"file": csv_upload(100)})
    assert response.status_code == 302
    assert "debt_ratio" in user_client.get(url).content.decode()


def test_open_alerts_show_on_the_dashboard_and_the_admin_index(user_client, staff_user):
    setup = serving_group()
    alerts.alert_open(
        group=setup.group,
        title="Income drift on 1.2",
        severity="warning",
        source="rule:x",
        evidence={},
    )
    assert "Income drift on 1.2" in user_client.get("/").content.decode()
    staff_client = Client()
    staff_client.force_login(staff_user)
    html = staff_client.get("/admin/").content.decode()
    assert "1 monitoring alert not resolved" in html
