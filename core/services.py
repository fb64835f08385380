"""Writes on teams and roles."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from core.models import DEFAULT_TEAM_SLUG, Team


@transaction.atomic
def team_ensure(*, slug: str = DEFAULT_TEAM_SLUG, name: str = "Default team") -> Team:
    team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": name})
    return team


@transaction.atomic
def user_with_role_ensure(*, username: str, password: str, role: str, team: Team):
    """A user holding `role` in `team`; made once, its password set only when made."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=role))
    team.members.add(user)
    return user
