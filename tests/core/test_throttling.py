import pytest

from core.throttling import PrincipalRateThrottle


@pytest.fixture
def two_per_minute(monkeypatch):
    monkeypatch.setattr(PrincipalRateThrottle, "THROTTLE_RATES", {"principal": "2/min"})


@pytest.mark.django_db
def test_a_user_over_the_rate_gets_429_json_with_retry_after(user_client, two_per_minute):
    statuses = [user_client.get("/api/v1/models/").status_code for _ in range(3)]
    response = user_client.get("/api/v1/models/")

    assert statuses[:2] == [200, 200]
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["message"].lower()


@pytest.mark.django_db
def test_each_user_has_their_own_bucket(client, user, viewer, two_per_minute):
    client.force_login(user)
    for _ in range(3):
        client.get("/api/v1/models/")
    client.force_login(viewer)

    assert client.get("/api/v1/models/").status_code == 200


@pytest.mark.django_db
def test_login_is_locked_after_repeated_failures(client, user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post("/login/", {"username": user.username, "password": "wrong"})

    response = client.post(
        "/login/", {"username": user.username, "password": "correct-horse-battery"}
    )

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
