"""The inventory: every model with its inventory fields, production versions, groups and
alerts; overdue reviews first; the page, its CSV and Excel exports and the API agree."""

import csv
import io
from datetime import timedelta

import openpyxl
import pytest
from django.utils import timezone

from registry.models import ValidationStatus
from tests.factories import TeamFactory, role_user
from tests.groups.factories import RegisteredModelFactory

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_inventory_page_shows_credit_scoring_with_owner_tier_and_validator(client, viewer, demo):
    client.force_login(viewer)

    page = client.get("/inventory/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Credit Scoring" in html
    assert demo.owner.username in html
    assert "Tier 1" in html
    assert demo.validator.username in html
    # Its production version and the group it serves, with both versions' roles.
    assert "1.2 champion 90%" in html and "1.3 challenger 10%" in html
    assert "Live Credit Scoring" in html


def test_csv_export_has_the_same_rows_as_the_page(client, viewer, demo):
    RegisteredModelFactory(name="Fraud Score")
    client.force_login(viewer)
    page = client.get("/inventory/")

    rows = _csv(client.get("/inventory/export.csv"))

    assert [r["name"] for r in rows] == [row.model.name for row in page.context["rows"]]
    credit = next(r for r in rows if r["name"] == "Credit Scoring")
    assert credit["owner"] == demo.owner.username
    assert credit["risk_tier"] == "1"
    assert credit["validator"] == demo.validator.username
    assert credit["validation_status"] == ValidationStatus.APPROVED
    assert credit["production_versions"] == "1.2"
    assert "1.3 challenger 10%" in credit["groups"]


def test_excel_export_has_the_same_rows(client, viewer, demo):
    client.force_login(viewer)

    response = client.get("/inventory/export.xlsx")

    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.iter_rows(values_only=True))
    header = list(values[0])
    credit = dict(zip(header, values[1], strict=True))
    assert credit["name"] == "Credit Scoring"
    assert (credit["owner"], credit["risk_tier"], credit["validator"]) == (
        demo.owner.username,
        "1",
        demo.validator.username,
    )


def test_inventory_api_answers_json_and_csv_to_a_read_key(client, read_key, demo):
    listed = client.get("/api/v1/inventory/", **read_key)
    as_csv = client.get("/api/v1/inventory/?format=csv", **read_key)

    assert listed.status_code == 200
    credit = listed.json()["results"][0]
    assert (credit["name"], credit["owner"], credit["risk_tier"], credit["validator"]) == (
        "Credit Scoring",
        demo.owner.username,
        "1",
        demo.validator.username,
    )
    assert as_csv.status_code == 200
    assert as_csv["Content-Type"].startswith("text/csv")
    assert [r["name"] for r in _csv(as_csv)] == [r["name"] for r in listed.json()["results"]]


def test_overdue_reviews_come_first_and_filter(client, viewer):
    today = timezone.localdate()
    RegisteredModelFactory(name="Alpha", next_review_on=today + timedelta(days=30))
    RegisteredModelFactory(name="Zulu", next_review_on=today - timedelta(days=1))
    client.force_login(viewer)

    names = [r["name"] for r in client.get("/api/v1/inventory/").json()["results"]]
    overdue = client.get("/api/v1/inventory/?overdue=true").json()["results"]

    assert names == ["Zulu", "Alpha"]
    assert [(r["name"], r["review_overdue"]) for r in overdue] == [("Zulu", True)]


def test_an_unknown_risk_tier_filter_is_a_400_naming_it(client, viewer):
    client.force_login(viewer)

    response = client.get("/api/v1/inventory/?risk_tier=9")

    assert response.status_code == 400
    assert "risk_tier" in response.json()["errors"]


def test_a_predict_key_and_anonymous_callers_cannot_read_the_inventory(client, predict_key):
    assert client.get("/api/v1/inventory/", **predict_key).status_code == 403
    assert client.get("/api/v1/inventory/").status_code == 401


def test_operator_edits_inventory_fields_but_not_the_validator(client, operator, approver):
    model = RegisteredModelFactory(name="Churn", owner=operator)
    client.force_login(operator)

    edited = client.patch(
        f"/api/v1/models/{model.slug}/",
        {"business_purpose": "Retention offers", "risk_tier": "2"},
        content_type="application/json",
    )
    refused = client.patch(
        f"/api/v1/models/{model.slug}/",
        {"validator": approver.username},
        content_type="application/json",
    )

    assert edited.status_code == 200
    assert (edited.json()["business_purpose"], edited.json()["risk_tier"]) == (
        "Retention offers",
        "2",
    )
    assert refused.status_code == 403
    model.refresh_from_db()
    assert model.validator is None


def test_approver_sets_the_validator_but_never_the_owner(client, operator, approver):
    model = RegisteredModelFactory(name="Churn", owner=operator)
    client.force_login(approver)

    validated = client.patch(
        f"/api/v1/models/{model.slug}/",
        {"validator": approver.username, "validation_status": "approved"},
        content_type="application/json",
    )
    model.owner = approver
    model.validator = None
    model.save()
    own = client.patch(
        f"/api/v1/models/{model.slug}/",
        {"validator": approver.username},
        content_type="application/json",
    )
    purpose = client.patch(
        f"/api/v1/models/{model.slug}/", {"intended_use": "x"}, content_type="application/json"
    )

    assert validated.status_code == 200
    assert validated.json()["validator"] == approver.username
    assert own.status_code == 400
    assert "validator" in own.json()["errors"]
    assert purpose.status_code == 403  # the purpose is the Operators'


def test_an_unknown_risk_tier_is_refused(client, operator):
    model = RegisteredModelFactory(name="Churn")
    client.force_login(operator)

    response = client.patch(
        f"/api/v1/models/{model.slug}/", {"risk_tier": "7"}, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["errors"]["risk_tier"] == ["Use one of 1, 2, 3."]


def test_risk_tiers_come_from_the_setting(client, operator, settings):
    settings.HUB_RISK_TIERS = ["high", "low"]
    model = RegisteredModelFactory(name="Churn")
    client.force_login(operator)

    response = client.patch(
        f"/api/v1/models/{model.slug}/", {"risk_tier": "high"}, content_type="application/json"
    )

    assert response.status_code == 200


def test_an_operator_of_another_team_cannot_edit(client):
    model = RegisteredModelFactory(name="Churn")
    stranger = role_user("Operator", team=TeamFactory(name="Other", slug="other"))
    client.force_login(stranger)

    response = client.patch(
        f"/api/v1/models/{model.slug}/", {"risk_tier": "1"}, content_type="application/json"
    )

    assert response.status_code == 403


def test_the_edit_page_offers_an_operator_only_the_inventory_fields(client, operator):
    model = RegisteredModelFactory(name="Churn", owner=operator)
    client.force_login(operator)

    form = client.get(f"/inventory/{model.slug}/edit/")
    saved = client.post(
        f"/inventory/{model.slug}/edit/",
        {
            "business_purpose": "Retention",
            "intended_use": "Offers",
            "known_limitations": "None known",
            "risk_tier": "3",
        },
    )

    assert "business_purpose" in form.context["form"].fields
    assert "validator" not in form.context["form"].fields
    assert saved.status_code == 302
    model.refresh_from_db()
    assert (model.business_purpose, model.risk_tier) == ("Retention", "3")


def test_a_viewer_gets_no_edit_page(client, viewer):
    model = RegisteredModelFactory(name="Churn")
    client.force_login(viewer)

    assert client.get(f"/inventory/{model.slug}/edit/").status_code == 403


def test_model_detail_api_shows_the_inventory_fields(client, viewer, demo):
    client.force_login(viewer)

    body = client.get("/api/v1/models/credit-scoring/").json()

    assert body["risk_tier"] == "1"
    assert body["validator"] == demo.validator.username
    assert body["owner"] == demo.owner.username
    assert body["next_review_on"] is not None
