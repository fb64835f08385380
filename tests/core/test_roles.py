import pytest
from django.contrib.auth.models import Group

from core import roles


@pytest.mark.django_db
@pytest.mark.parametrize("role", roles.ROLES)
def test_the_migrations_give_each_role_exactly_its_permissions(role):
    group = Group.objects.get(name=role)

    granted = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }

    assert granted == set(roles.ROLE_PERMS[role])


def test_no_api_key_scope_grants_an_admin_permission():
    scoped = set().union(*roles.SCOPE_PERMS.values())

    assert scoped & (roles.ADMIN_PERMS - roles.OPERATE_PERMS - roles.READ_PERMS) == set()
