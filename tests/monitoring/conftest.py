import pytest


@pytest.fixture(autouse=True)
def _monitoring_roles(request):
    """The monitoring permissions are in core.roles; until the lead's roles migration
    exists, put them into the role groups for the tests that use a database."""
    uses_db = {"db", "transactional_db", "live_server", "celery_worker"} & set(request.fixturenames)
    if not uses_db and not request.node.get_closest_marker("django_db"):
        return
    request.getfixturevalue("transactional_db" if uses_db - {"db"} else "db")
    from django.contrib.auth.models import Group, Permission

    from core.roles import roles_sync

    roles_sync(Group, Permission)
