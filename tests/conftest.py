import pytest
from django.core.cache import cache

from tests.factories import UserFactory

pytest_plugins = ["tests.fakes.provider_server", "tests.celery_worker", "tests.browser"]


@pytest.fixture(autouse=True)
def _clean_cache():
    # With REDIS_URL set the cache outlives a test; every test starts from an empty one.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
