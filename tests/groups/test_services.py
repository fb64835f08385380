"""Group services: creation with its table, the invariants, promotion, traffic and rollback."""

import pytest
from django.db import connection

from groups.models import Membership, ModelGroup, Role, RoleChange, RoleChangeAction
from groups.services import (
    GroupValidationError,
    MemberSpec,
    group_create,
    group_delete,
    group_promote,
    group_rollback,
    group_set_traffic,
    group_update,
    membership_add,
)
from inference.models import ArchivedInferenceTable
from tests.groups.catalogue import assert_inference_table, table_names
from tests.groups.factories import ModelVersionFactory, group_with_members

pytestmark = pytest.mark.django_db


def weights(group: ModelGroup) -> dict[int, tuple[str, int]]:
    return {m.model_version_id: (m.role, m.weight) for m in group.memberships.all()}


def test_create_makes_the_group_its_members_and_its_table():
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    assert group.slug == "live-credit-scoring"
    assert group.table_name == "inference_log_live_credit_scoring"
    assert_inference_table(group.table_name)
    assert weights(group) == {champion.pk: ("champion", 90), challenger.pk: ("challenger", 10)}
    assert group.features == champion.feature_names
    assert group.role_changes.get().action == RoleChangeAction.CREATE


def test_rename_keeps_the_slug_and_the_table():
    group, _ = group_with_members()
    group_update(group=group, actor=None, name="Credit Scoring (EU)")
    group.refresh_from_db()
    assert (group.name, group.slug) == ("Credit Scoring (EU)", "live-credit-scoring")
    assert group.table_name == "inference_log_live_credit_scoring"


def test_a_failing_ddl_rolls_the_group_back():
    with connection.cursor() as cursor:
        # The table already exists, so the signal's CREATE TABLE fails inside group_create.
        cursor.execute("CREATE TABLE inference_log_doomed (id integer)")
    version = ModelVersionFactory()
    with pytest.raises(Exception):  # noqa: B017 - the database's own error, per backend
        group_create(name="Doomed", members=[MemberSpec(version, "champion", 100)])
    assert not ModelGroup.objects.filter(slug="doomed").exists()
    assert not Membership.objects.exists()
    assert not RoleChange.objects.exists()


def test_sql_looking_names_are_harmless():
    version = ModelVersionFactory()
    group = group_create(
        name='x"; DROP TABLE users; --', members=[MemberSpec(version, "champion", 100)]
    )
    assert group.table_name == "inference_log_x_drop_table_users"
    assert {group.table_name, "auth_user", "groups_modelgroup"} <= table_names()
    assert ModelGroup.objects.get(pk=group.pk).name == 'x"; DROP TABLE users; --'


def test_a_long_name_gets_a_shortened_table_name_stored_on_the_group():
    version = ModelVersionFactory()
    group = group_create(name="Very long " * 12, members=[MemberSpec(version, "champion", 100)])
    assert len(group.table_name) <= 63
    assert group.table_name in table_names()


def test_delete_with_archive_policy_renames_and_records_the_table():
    group, _ = group_with_members(deletion_policy="archive")
    group_delete(group=group, actor=None)
    archived = ArchivedInferenceTable.objects.get()
    assert archived.table_name.startswith("archived_inference_log_live_credit_scoring_")
    assert archived.table_name in table_names()
    assert "inference_log_live_credit_scoring" not in table_names()


def test_delete_with_drop_policy_drops_the_table():
    group, _ = group_with_members(deletion_policy="drop")
    group_delete(group=group, actor=None)
    assert "inference_log_live_credit_scoring" not in table_names()
    assert not ArchivedInferenceTable.objects.exists()
    assert not ModelGroup.objects.exists()


def test_weights_not_summing_to_100_are_refused_naming_the_weight():
    champion, challenger = ModelVersionFactory(), ModelVersionFactory()
    with pytest.raises(GroupValidationError) as raised:
        group_create(
            name="Bad split",
            members=[
                MemberSpec(champion, "champion", 80),
                MemberSpec(challenger, "challenger", 10),
            ],
        )
    assert "sum to 100, not 90" in raised.value.errors["weight"][0]
    assert not ModelGroup.objects.exists()


def test_a_group_without_a_champion_is_refused_naming_the_role():
    with pytest.raises(GroupValidationError) as raised:
        group_create(
            name="No champion", members=[MemberSpec(ModelVersionFactory(), "challenger", 100)]
        )
    assert "exactly one champion" in raised.value.errors["role"][0]


def test_a_shadow_with_weight_is_refused():
    with pytest.raises(GroupValidationError) as raised:
        group_create(
            name="Heavy shadow",
            members=[
                MemberSpec(ModelVersionFactory(), "champion", 100),
                MemberSpec(ModelVersionFactory(), "shadow", 5),
            ],
        )
    assert "shadows take no traffic" in raised.value.errors["weight"][0]


def test_a_member_missing_features_is_refused_naming_them():
    champion = ModelVersionFactory()
    narrow = ModelVersionFactory(features=["income", "age"])
    with pytest.raises(GroupValidationError) as raised:
        group_create(
            name="Narrow",
            members=[MemberSpec(champion, "champion", 90), MemberSpec(narrow, "challenger", 10)],
        )
    message = raised.value.errors["model_version"][0]
    assert "missing debt_ratio, open_accounts" in message


def test_a_duplicate_name_is_refused_naming_the_name():
    group_with_members(name="Live Credit Scoring")
    with pytest.raises(GroupValidationError) as raised:
        group_with_members(name="live credit scoring")
    assert "already exists" in raised.value.errors["name"][0]


def test_promote_moves_all_traffic_to_new_champion(staff_user):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    change = group_promote(
        group=group, model_version=challenger, actor=staff_user, reason="AUC +2pt"
    )
    assert weights(group) == {champion.pk: ("challenger", 0), challenger.pk: ("champion", 100)}
    assert change.action == RoleChangeAction.PROMOTE
    assert (change.from_version, change.to_version, change.actor) == (
        champion,
        challenger,
        staff_user,
    )
    assert change.reason == "AUC +2pt"
    assert {row["model_version"]: row["weight"] for row in change.weights_before} == {
        champion.pk: 90,
        challenger.pk: 10,
    }
    assert {row["model_version"]: row["weight"] for row in change.weights_after} == {
        champion.pk: 0,
        challenger.pk: 100,
    }


def test_promote_can_make_the_former_champion_a_shadow():
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    group_promote(
        group=group, model_version=challenger, actor=None, former_champion_role=Role.SHADOW
    )
    assert weights(group)[champion.pk] == ("shadow", 0)


def test_promote_a_non_member_is_refused_naming_the_model_version():
    group, _ = group_with_members()
    with pytest.raises(GroupValidationError) as raised:
        group_promote(group=group, model_version=ModelVersionFactory(), actor=None)
    assert "is not a member" in raised.value.errors["model_version"][0]


def test_rollback_restores_the_previous_champion_and_weights(staff_user):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    promotion = group_promote(group=group, model_version=challenger, actor=staff_user)
    change = group_rollback(group=group, actor=staff_user)
    assert weights(group) == {champion.pk: ("champion", 90), challenger.pk: ("challenger", 10)}
    assert change.action == RoleChangeAction.ROLLBACK
    assert (change.from_version, change.to_version) == (challenger, champion)
    promotion.refresh_from_db()
    assert promotion.rolled_back_by == change


def test_rollback_walks_back_one_promotion_at_a_time():
    group, (v1, v2, v3) = group_with_members(weights=(80, 10, 10))
    group_promote(group=group, model_version=v2, actor=None)
    group_promote(group=group, model_version=v3, actor=None)
    group_rollback(group=group, actor=None)
    assert weights(group)[v2.pk] == ("champion", 100)
    group_rollback(group=group, actor=None)
    assert weights(group) == {
        v1.pk: ("champion", 80),
        v2.pk: ("challenger", 10),
        v3.pk: ("challenger", 10),
    }
    with pytest.raises(GroupValidationError) as raised:
        group_rollback(group=group, actor=None)
    assert "no promotion to roll back" in raised.value.errors["group"][0]


def test_set_traffic_sets_canary_weights_and_records_them(staff_user):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    change = group_set_traffic(
        group=group, weights={champion.pk: 75, challenger.pk: 25}, actor=staff_user, reason="canary"
    )
    assert weights(group) == {champion.pk: ("champion", 75), challenger.pk: ("challenger", 25)}
    assert change.action == RoleChangeAction.SET_TRAFFIC
    assert change.weights_after != change.weights_before


def test_set_traffic_not_summing_to_100_changes_nothing():
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    with pytest.raises(GroupValidationError) as raised:
        group_set_traffic(group=group, weights={challenger.pk: 30}, actor=None)
    assert "not 120" in raised.value.errors["weight"][0]
    assert weights(group)[challenger.pk] == ("challenger", 10)
    assert group.role_changes.count() == 1  # only the creation


def test_set_traffic_for_a_non_member_is_refused_naming_the_weights():
    group, _ = group_with_members()
    with pytest.raises(GroupValidationError) as raised:
        group_set_traffic(group=group, weights={999999: 10}, actor=None)
    assert "999999 is not a member" in raised.value.errors["weights"][0]


def test_membership_add_checks_features_and_weights():
    group, _ = group_with_members(weights=(100,))
    shadow = membership_add(
        group=group, model_version=ModelVersionFactory(), role="shadow", weight=0, actor=None
    )
    assert shadow.role == "shadow"
    with pytest.raises(GroupValidationError) as raised:
        membership_add(
            group=group,
            model_version=ModelVersionFactory(features=["income"]),
            role="challenger",
            weight=0,
            actor=None,
        )
    assert "missing" in raised.value.errors["model_version"][0]
    with pytest.raises(GroupValidationError) as raised:
        membership_add(
            group=group,
            model_version=ModelVersionFactory(),
            role="challenger",
            weight=10,
            actor=None,
        )
    assert "not 110" in raised.value.errors["weight"][0]


def test_an_inactive_group_may_have_no_champion():
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    group_update(
        group=group, actor=None, is_active=False, members=[MemberSpec(champion, "shadow", 0)]
    )
    group.refresh_from_db()
    assert not group.is_active
    assert weights(group) == {champion.pk: ("shadow", 0)}
    with pytest.raises(GroupValidationError) as raised:
        group_update(group=group, actor=None, is_active=True)
    assert "role" in raised.value.errors


def test_names_differing_only_by_underscores_cannot_share_a_table():
    group_create(name="risk_model", members=[MemberSpec(ModelVersionFactory(), "champion", 100)])
    with pytest.raises(GroupValidationError) as raised:
        group_create(
            name="risk-model", members=[MemberSpec(ModelVersionFactory(), "champion", 100)]
        )
    assert "/groups/risk-model/ is taken" in raised.value.errors["name"][0]


def test_new_features_must_be_accepted_by_every_member():
    group, _ = group_with_members()
    with pytest.raises(GroupValidationError) as raised:
        group_update(group=group, actor=None, features=["income", "zip_code"])
    assert "missing zip_code" in raised.value.errors["model_version"][0]
    group_update(group=group, actor=None, features=["income", "age"])
    group.refresh_from_db()
    assert group.features == ["income", "age"]
