import pytest
from rest_framework import serializers

from core.api import exception_handler
from core.errors import Conflict, ServiceError, flatten_errors


def test_a_service_error_made_from_field_errors_reads_them_as_its_message():
    error = ServiceError({"name": ["Required."]})

    assert error.status == 400
    assert error.message == "name: Required."
    assert error.errors == {"name": ["Required."]}


def test_the_handler_renders_a_service_error_with_its_status():
    response = exception_handler(Conflict("Reused.", {"request_id": ["Other inputs."]}), {})

    assert response.status_code == 409
    assert response.data == {"message": "Reused.", "errors": {"request_id": ["Other inputs."]}}


def test_nested_serializer_errors_become_flat_field_paths():
    detail = {"members": [{}, {"weight": ["Too big."]}], "non_field_errors": ["Bad."]}

    assert flatten_errors(detail) == {
        "members[1].weight": ["Too big."],
        "non_field_errors": ["Bad."],
    }


def test_an_unexpected_exception_in_an_api_view_is_a_json_500():
    class View:
        pass

    response = exception_handler(RuntimeError("secret detail"), {"view": View()})

    assert response.status_code == 500
    assert response.data == {"message": "Internal server error.", "errors": {}}


def test_a_validation_error_names_the_field():
    response = exception_handler(serializers.ValidationError({"name": ["Blank."]}), {})

    assert response.status_code == 400
    assert response.data["errors"] == {"name": ["Blank."]}


@pytest.mark.django_db
def test_an_unknown_api_url_is_a_json_404(user_client):
    response = user_client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json()["message"].startswith("No API endpoint")


@pytest.mark.django_db
def test_a_nul_byte_in_a_query_parameter_is_a_400_naming_it(user_client):
    api = user_client.get("/api/v1/models/?q=a%00b")
    page = user_client.get("/models/?q=a%00b")

    assert api.status_code == 400
    assert api.json()["errors"] == {"q": ["Contains a NUL byte."]}
    assert page.status_code == 400


def test_a_crash_outside_drf_under_api_is_a_json_500(rf):
    from hub import views

    response = views.api_server_error(rf.get("/api/v1/groups/"))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
