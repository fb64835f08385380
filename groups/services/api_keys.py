"""API keys: made, re-scoped and revoked here; authenticated by groups/auth.py.

A key is shown once, when it is made; only its sha256 is stored. Every change forgets
the key's cached lookup once it commits.
"""

import secrets
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.models import Team
from groups.models import ApiKey, ModelGroup, api_key_scope_errors
from groups.routing_cache import api_key_cache_forget
from groups.services.common import Errors, GroupValidationError, who

KEY_PREFIX = "mh_"
PREFIX_LENGTH = 11  # "mh_" and 8 characters: enough to tell keys apart, useless to guess
_UNCHANGED = object()


def api_key_errors(
    *,
    name: str,
    team: Team | None,
    scopes: Iterable[str],
    groups: Iterable[ModelGroup],
    all_groups: bool,
    expires_at: datetime | None = None,
) -> Errors:
    """Everything wrong with a key's settings, by field (the admin form shows these too)."""
    errors: Errors = {}
    if not (name or "").strip():
        errors["name"] = ["A key needs a name (who or what uses it)."]
    if team is None:
        errors["team"] = ["A key belongs to a team: it never exceeds the team's rights."]
    errors.update(api_key_scope_errors(list(scopes)))
    groups = list(groups)
    if not groups and not all_groups:
        errors["groups"] = ["Choose the groups this key may call, or allow all the team's groups."]
    foreign = sorted(g.slug for g in groups if team is not None and g.team_id != team.pk)
    if foreign:
        errors["groups"] = [
            f"{', '.join(foreign)}: not a group of team {team.slug}; a key is limited to its team."
        ]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry is in the past."]
    return errors


@transaction.atomic
def api_key_create(
    *,
    name: str,
    team: Team,
    scopes: Iterable[str],
    groups: Iterable[ModelGroup] = (),
    all_groups: bool = False,
    expires_at: datetime | None = None,
    created_by: object = None,
) -> tuple[ApiKey, str]:
    """Make a key; the plaintext is returned here once and never stored or shown again."""
    groups, scopes = list(groups), sorted(set(scopes))
    errors = api_key_errors(
        name=name,
        team=team,
        scopes=scopes,
        groups=groups,
        all_groups=all_groups,
        expires_at=expires_at,
    )
    if errors:
        raise GroupValidationError(errors)
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        name=name.strip(),
        prefix=plaintext[:PREFIX_LENGTH],
        key_hash=ApiKey.hash(plaintext),
        team=team,
        scopes=scopes,
        all_groups=all_groups,
        expires_at=expires_at,
        created_by=who(created_by).user,
    )
    api_key.groups.set(groups)
    return api_key, plaintext


def _forget_on_commit(api_key: ApiKey) -> None:
    digest = api_key.key_hash
    transaction.on_commit(lambda: api_key_cache_forget([digest]))


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    _forget_on_commit(api_key)
    return api_key


@transaction.atomic
def api_key_scope_set(
    *,
    api_key: ApiKey,
    groups: Iterable[ModelGroup],
    all_groups: bool,
    scopes: Iterable[str] | None = None,
    name: str | None = None,
    expires_at: datetime | None | object = _UNCHANGED,
) -> ApiKey:
    """Change what a key may do (groups, scopes, expiry, name); takes effect on commit."""
    groups = list(groups)
    scopes = sorted(set(scopes)) if scopes is not None else list(api_key.scopes)
    name = name.strip() if name is not None and name.strip() else api_key.name
    expiry = api_key.expires_at if expires_at is _UNCHANGED else expires_at
    errors = api_key_errors(
        name=name, team=api_key.team, scopes=scopes, groups=groups, all_groups=all_groups
    )
    if errors:
        raise GroupValidationError(errors)
    api_key.name, api_key.scopes, api_key.all_groups, api_key.expires_at = (
        name,
        scopes,
        all_groups,
        expiry,
    )
    api_key.save(update_fields=["name", "scopes", "all_groups", "expires_at"])
    api_key.groups.set(groups)
    _forget_on_commit(api_key)
    return api_key
