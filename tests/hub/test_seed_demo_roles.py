"""`manage.py seed_demo` on an empty database: one login per role that signs in with the
printed password, each role allowed what the roles table says (a promote through the API),
idempotent, and the regression and multiclass demo groups (issue 13) with real traffic."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from core import roles
from groups.models import Membership, ModelGroup
from inference import tables
from inference.demo import DEMO_GROUP_NAME
from registry.models import ModelVersion, RegisteredModel, Task
from training.models import FineTuneJob

pytestmark = pytest.mark.django_db

REQUESTS = 30  # enough rows to prove the replay; the default 3,000 takes minutes
ROLE_LOGINS = {
    "viewer": roles.VIEWER,
    "operator": roles.OPERATOR,
    "approver": roles.APPROVER,
    "admin": roles.ADMIN,
}


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", requests=REQUESTS, stdout=out)
    return out.getvalue()


def _printed_logins() -> tuple[list[str], str, str]:
    """(role usernames, demo superuser, shared password) as `--print-login` prints them."""
    out = StringIO()
    call_command("seed_demo", print_login=True, stdout=out)
    text = out.getvalue()
    demo = re.search(r"Demo login: (\S+) / (\S+) \(superuser\)", text)
    per_role = re.search(r"One login per role, same password: (.+)", text)
    assert demo and per_role, text
    usernames = re.findall(r"(\w+) \((\w+)\)", per_role.group(1))
    return usernames, demo.group(1), demo.group(2)


def _signed_in(username: str, password: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, (username, response.status_code)
    assert "_auth_user_id" in client.session, username
    return client


def test_print_login_names_one_login_per_role_and_seeds_nothing():
    usernames, demo, password = _printed_logins()

    assert dict(usernames) == ROLE_LOGINS
    assert (demo, password) == ("demo", "demo-model-hub")
    assert not get_user_model().objects.exists()
    assert not ModelGroup.objects.exists()


def test_every_printed_login_signs_in_and_holds_exactly_its_role():
    _seed()
    usernames, demo, password = _printed_logins()

    for username, role in usernames:
        client = _signed_in(username, password)
        user = get_user_model().objects.get(username=username)
        assert [g.name for g in user.groups.all()] == [role]
        assert not user.is_staff and not user.is_superuser
        assert user.get_group_permissions() == set(roles.ROLE_PERMS[role])
        assert client.get("/api/v1/groups/").status_code == 200
    assert get_user_model().objects.get(username=demo).is_superuser
    _signed_in(demo, password)
    wrong = Client().post("/login/", {"username": "viewer", "password": "not-the-password"})
    assert wrong.status_code == 200  # the form again, not a redirect


def _promote(client: Client, slug: str, version: ModelVersion):
    return client.post(
        f"/api/v1/groups/{slug}/promote",
        {"model_version": version.pk, "reason": "demo"},
        content_type="application/json",
    )


def _champion(group: ModelGroup) -> ModelVersion:
    return Membership.objects.get(group=group, role="champion").model_version


def test_only_the_operator_and_admin_logins_may_promote_through_the_api():
    _seed()
    _, _, password = _printed_logins()
    group = ModelGroup.objects.get(name=DEMO_GROUP_NAME)
    champion = _champion(group)
    challenger = Membership.objects.get(group=group, role="challenger").model_version

    for username in ("viewer", "approver"):
        refused = _promote(_signed_in(username, password), group.slug, challenger)
        assert refused.status_code == 403, (username, refused.json())
        assert refused.json()["errors"]["permission"]
        assert _champion(group) == champion

    promoted = _promote(_signed_in("operator", password), group.slug, challenger)
    assert promoted.status_code == 200, promoted.json()
    assert promoted.json()["change"]["actor"] == "operator"
    assert _champion(group) == challenger

    back = _promote(_signed_in("admin", password), group.slug, champion)
    assert back.status_code == 200, back.json()
    assert _champion(group) == champion


def _counts() -> dict[str, int]:
    logged = {
        group.name: tables.inference_log_model(group.table_name).all_rows.count()
        for group in ModelGroup.objects.all()
    }
    return {
        "users": get_user_model().objects.count(),
        "models": RegisteredModel.objects.count(),
        "versions": ModelVersion.objects.count(),
        "groups": ModelGroup.objects.count(),
        "members": Membership.objects.count(),
        "runs": FineTuneJob.objects.count(),
        **{f"rows: {name}": count for name, count in logged.items()},
    }


def test_seeding_twice_adds_nothing_and_keeps_changed_passwords():
    first = _seed()
    before = _counts()
    viewer = get_user_model().objects.get(username="viewer")
    viewer.set_password("my-own-secret")
    viewer.save()

    second = _seed()

    assert "30 predictions replayed" in first
    assert "0 predictions replayed" in second
    assert _counts() == before
    assert before["rows: " + DEMO_GROUP_NAME] >= REQUESTS  # and the drift episode
    _signed_in("viewer", "my-own-secret")
    assert [g.name for g in get_user_model().objects.get(username="viewer").groups.all()] == [
        roles.VIEWER
    ]


def _members(group: ModelGroup) -> dict[str, tuple[str, int]]:
    return {
        m.model_version.version: (m.role, m.weight)
        for m in Membership.objects.filter(group=group).select_related("model_version")
    }


def test_the_regression_and_multiclass_demo_groups_are_served_and_fed_back():
    _seed()

    pricing = ModelGroup.objects.get(name="Dynamic Pricing")
    offers = ModelGroup.objects.get(name="Next Best Action")
    assert RegisteredModel.objects.get(name="Basket Pricing").task == Task.REGRESSION
    assert RegisteredModel.objects.get(name="Next Best Offer").task == Task.MULTICLASS
    assert _members(pricing) == {"1.0": ("champion", 100), "2.0": ("shadow", 0)}
    assert _members(offers) == {
        "1.0": ("champion", 80),
        "1.1": ("challenger", 20),
        "1.2": ("shadow", 0),
    }

    priced = list(tables.inference_log_model(pricing.table_name).objects.values())
    # The shadow prices every request too: the comparison is paired.
    assert {r["role"] for r in priced} == {"champion", "shadow"}
    assert sum(r["role"] == "champion" for r in priced) == REQUESTS
    assert all(isinstance(r["prediction"], float) for r in priced)
    assert any(isinstance(r["outcome"], float) for r in priced)

    offered = list(tables.inference_log_model(offers.table_name).objects.values())
    served = [r for r in offered if r["role"] != "shadow"]
    assert len(served) == REQUESTS
    assert {r["prediction"] for r in offered} <= {"bundle", "discount", "upgrade"}
    assert {r["outcome"] for r in offered if r["outcome"] is not None} <= {
        "bundle",
        "discount",
        "upgrade",
    }
    assert any(r["outcome"] is not None for r in offered)

    viewer = _signed_in("viewer", "demo-model-hub")
    for group in (pricing, offers):
        assert viewer.get(f"/groups/{group.slug}/").status_code == 200
        assert viewer.get(f"/api/v1/groups/{group.slug}/comparison").status_code == 200
