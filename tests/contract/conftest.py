"""A live server with data for contract tests: a servable group, a staff session and an
API key with every scope on every group of the team."""

from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from tests.factories import UserFactory, default_team


@dataclass
class ContractServer:
    url: str
    key: str
    session_cookie: str
    group_slug: str
    features: list[str]


def _session_for(user) -> str:
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return session.session_key


@pytest.fixture
def contract_server(live_server, transactional_db) -> ContractServer:
    if connection.vendor != "postgresql":
        pytest.skip("contract tests run once, on PostgreSQL")
    from groups.services import api_key_create
    from registry.demo import CREDIT_FEATURES
    from tests.inference.serving_factories import serving_group

    team = default_team()
    group = serving_group().group
    staff = UserFactory(username="contract-staff", is_staff=True, is_superuser=True)
    team.members.add(staff)
    _, key = api_key_create(
        name="contract", team=team, scopes=["predict", "read", "manage"], all_groups=True
    )
    return ContractServer(
        url=live_server.url,
        key=key,
        session_cookie=f"{settings.SESSION_COOKIE_NAME}={_session_for(staff)}",
        group_slug=group.slug,
        features=list(CREDIT_FEATURES),
    )
