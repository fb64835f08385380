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


class _Caller:
    """What the throttle reads of a request: a signed-in user."""

    def __init__(self, pk: int):
        self.user = type("User", (), {"grant": None, "is_authenticated": True, "pk": pk})()
        self.META = {"REMOTE_ADDR": "127.0.0.1"}


def test_threads_at_once_are_let_through_exactly_the_rate_and_the_shared_count_agrees(
    monkeypatch,
):
    import threading

    from django.core.cache import cache

    from core.throttling import throttle_counts_clear

    monkeypatch.setattr(PrincipalRateThrottle, "THROTTLE_RATES", {"principal": "50/hour"})
    monkeypatch.setattr("core.throttling.FLUSH_SECONDS", 0.0)  # every request may flush
    throttle_counts_clear()
    cache.clear()
    allowed: list[bool] = []

    def calls():
        for _ in range(20):
            allowed.append(PrincipalRateThrottle().allow_request(_Caller(4242), None))

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    throttle = PrincipalRateThrottle()
    key = throttle.get_cache_key(_Caller(4242), None)
    window = int(__import__("time").time() // throttle.duration)

    assert allowed.count(True) == 50  # of 160 calls
    assert cache.get(f"{key}:{window}") == 50  # every allowed request reached the shared count
