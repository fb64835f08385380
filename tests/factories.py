"""Factories shared across the apps' tests. Each app may add its own in tests/<app>/factories.py."""

import factory
from django.contrib.auth import get_user_model


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct-horse-battery")


class TeamFactory(factory.django.DjangoModelFactory):
    """Teams own models and groups. The default one is the team every factory-made model
    and group belongs to unless told otherwise (as in the product, core.models)."""

    class Meta:
        model = "core.Team"
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.LazyAttribute(lambda t: t.name.lower().replace(" ", "-"))


def default_team():
    from core.models import DEFAULT_TEAM_SLUG

    return TeamFactory(slug=DEFAULT_TEAM_SLUG, name="Default team")


def role_user(role: str, *, team=None, **fields):
    """A user holding `role` (core.roles) and a member of `team` (the default team unless
    given; pass team=False for none)."""
    from django.contrib.auth.models import Group, Permission

    from core.roles import roles_sync

    if not Group.objects.filter(name=role).exists():
        # A transactional test's flush empties the roles the data migration made.
        roles_sync(Group, Permission)
    user = UserFactory(**fields)
    user.groups.add(Group.objects.get(name=role))
    if team is not False:
        (team or default_team()).members.add(user)
    return user
