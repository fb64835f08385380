import pytest
from django.contrib.auth.models import Group, Permission

from core.roles import roles_sync
from recipes.baselines import recipes_seed


@pytest.fixture(autouse=True)
def _recipe_perms_in_roles(db):
    # The recipes permissions join the roles in the lead's final roles migration; until
    # then the test database's roles get them here.
    roles_sync(Group, Permission)


@pytest.fixture
def seeded(db):
    """The four baselines, the grocery industry child and its client child."""
    return {recipe.slug: recipe for recipe in recipes_seed()}
