import pytest
from django.contrib.auth.models import Group, Permission

from core.roles import roles_sync


@pytest.fixture(autouse=True)
def _rollout_permissions_in_roles(db):
    # The rollout permissions are in core/roles.py; the lead's final migration re-syncs the
    # roles. Until then, sync them here so each role holds them.
    roles_sync(Group, Permission)
