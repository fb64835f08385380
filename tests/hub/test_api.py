import pytest


@pytest.mark.django_db
def test_api_answers_401_in_json_without_a_login(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code in (401, 403)
    assert response.json()["message"]


@pytest.mark.django_db
def test_interactive_api_docs_send_anonymous_visitors_to_the_login_page(client):
    response = client.get("/api/docs/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served_to_users(user_client):
    schema = user_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    docs = user_client.get("/api/docs/")

    assert schema.status_code == 200
    assert "/api/v1/" in schema.content.decode()
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_api_errors_read_the_same_with_field_errors():
    from rest_framework import serializers

    from core.api import exception_handler

    response = exception_handler(
        serializers.ValidationError({"name": ["This field is required."]}), {}
    )

    assert response.data == {
        "message": "name: This field is required.",
        "errors": {"name": ["This field is required."]},
    }
