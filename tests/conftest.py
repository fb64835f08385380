import os

import pytest
from django.core.cache import cache
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from core import roles
from tests.factories import TeamFactory, UserFactory, default_team, role_user

pytest_plugins = ["tests.fakes.provider_server", "tests.celery_worker", "tests.browser"]

# No property test is a timing test: on a loaded machine generating one example can take
# seconds, which is no failure of the code (no deadline, no too_slow health check).
# CI explores the same examples every run (a property failure there is reproducible);
# local runs keep exploring new ones.
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
hypothesis_settings.register_profile("local", **_UNTIMED)
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True, **_UNTIMED)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "local")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 costs ~1 s per user on these machines; tests prove logins, not hash strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    # Ids are reused between tests (rolled back or flushed): no per-process cache of
    # routing tables, versions, predictors or explainers may outlive its test.
    from groups.selectors import routing_cache_clear
    from inference.serving import serving_cache_clear

    serving_cache_clear()
    routing_cache_clear()
    yield
    serving_cache_clear()
    routing_cache_clear()


@pytest.fixture(autouse=True)
def _clean_cache():
    # With REDIS_URL set the cache outlives a test; every test starts from an empty one.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _drop_leftover_inference_tables(request, django_db_blocker):
    """A transactional test commits its groups' tables, and Django's flush empties only the
    tables of known models: drop the per-group tables so the next test starts clean."""
    yield
    if not {"transactional_db", "live_server", "celery_worker"} & set(request.fixturenames):
        return
    from inference.tables import ARCHIVE_PREFIX, TABLE_PREFIX

    # This autouse fixture is torn down after the database fixtures have blocked access again.
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        leftovers = [
            name
            for name in connection.introspection.table_names(cursor)
            if name.startswith((TABLE_PREFIX, ARCHIVE_PREFIX))
        ]
        for name in leftovers:
            cursor.execute(f"DROP TABLE {connection.ops.quote_name(name)}")
    # Opened after pytest-django let go of the database: left open, it would stop the test
    # database from being dropped at the end of the session.
    connection.close()


@pytest.fixture
def team(db):
    """The default team: factory-made models and groups belong to it."""
    return default_team()


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Other team", slug="other-team")


@pytest.fixture
def user(db):
    """An Operator of the default team: may act on every factory-made model and group."""
    return role_user(roles.OPERATOR)


@pytest.fixture
def viewer(db):
    return role_user(roles.VIEWER)


@pytest.fixture
def operator(db):
    return role_user(roles.OPERATOR)


@pytest.fixture
def approver(db):
    return role_user(roles.APPROVER)


@pytest.fixture
def admin_user(db):
    return role_user(roles.ADMIN)


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
