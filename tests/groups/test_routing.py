"""The routing rule (pure): weights, sticky keys, shadows, and the split's invariants."""

import math
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from groups.routing import NoRoute, RouteMember, choose, key_point, promoted, split_errors

CHAMPION = RouteMember(version_id=1, role="champion", weight=90)
CHALLENGER = RouteMember(version_id=2, role="challenger", weight=10)
SHADOW = RouteMember(version_id=3, role="shadow", weight=0)


def test_challenger_share_at_90_10_is_inside_the_binomial_999_interval():
    rng = random.Random(20261122)
    n, p = 10_000, 0.10
    picks = Counter(
        choose([CHAMPION, CHALLENGER, SHADOW], routing_key=None, rand=rng.random).version_id
        for _ in range(n)
    )
    # Normal approximation of the binomial: z = 3.2905 for a two-sided 99.9% interval.
    half_width = 3.2905 * math.sqrt(n * p * (1 - p))
    assert n * p - half_width <= picks[2] <= n * p + half_width
    assert picks[3] == 0


def test_one_routing_key_meets_the_same_member_a_thousand_times():
    chosen = {
        choose([CHAMPION, CHALLENGER], routing_key="applicant-123").version_id for _ in range(1000)
    }
    assert len(chosen) == 1


def test_routing_keys_spread_by_the_weights():
    picks = Counter(
        choose([CHAMPION, CHALLENGER], routing_key=f"applicant-{i}").version_id
        for i in range(10_000)
    )
    half_width = 3.2905 * math.sqrt(10_000 * 0.1 * 0.9)
    assert abs(picks[2] - 1000) <= half_width


def test_routing_key_choice_does_not_depend_on_member_order():
    forward = choose([CHAMPION, CHALLENGER], routing_key="k-42")
    backward = choose([CHALLENGER, CHAMPION], routing_key="k-42")
    assert forward == backward


def test_without_a_key_the_choice_is_by_weight():
    assert choose([CHAMPION, CHALLENGER], routing_key=None, rand=lambda: 0.95) == CHALLENGER
    assert choose([CHAMPION, CHALLENGER], routing_key=None, rand=lambda: 0.5) == CHAMPION


def test_a_group_without_traffic_takers_cannot_route():
    with pytest.raises(NoRoute):
        choose([SHADOW], routing_key=None)


def test_key_point_is_stable_across_calls():
    assert key_point("applicant-123") == key_point("applicant-123")
    assert 0 <= key_point("x") < 1


members_strategy = st.lists(
    st.tuples(st.sampled_from(["champion", "challenger", "shadow"]), st.integers(0, 100)),
    min_size=1,
    max_size=6,
).map(
    lambda rows: [
        RouteMember(version_id=i + 1, role=role, weight=0 if role == "shadow" else weight)
        for i, (role, weight) in enumerate(rows)
    ]
)


@given(members=members_strategy, point=st.floats(0, 1, exclude_max=True), key=st.none() | st.text())
def test_shadows_and_zero_weights_are_never_chosen(members, point, key):
    try:
        chosen = choose(members, routing_key=key, rand=lambda: point)
    except NoRoute:
        assert not any(m.role == "champion" for m in members)
        return
    assert chosen.role != "shadow"
    assert chosen.weight > 0 or all(m.weight == 0 for m in members if m.role != "shadow")


@st.composite
def valid_splits(draw):
    challengers = draw(st.integers(0, 4))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=challengers, max_size=challengers)))
    bounds = [0, *cuts, 100]
    weights = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
    members = [RouteMember(1, "champion", weights[0])]
    members += [RouteMember(i + 2, "challenger", w) for i, w in enumerate(weights[1:])]
    members += [RouteMember(100 + i, "shadow", 0) for i in range(draw(st.integers(0, 2)))]
    return members


@given(members=valid_splits())
def test_every_split_summing_to_100_with_one_champion_is_valid(members):
    assert split_errors(members) == {}
    assert sum(m.weight for m in members if m.role != "shadow") == 100


@given(members=members_strategy)
def test_a_split_is_valid_only_when_the_weights_sum_to_100_with_one_champion(members):
    errors = split_errors(members)
    champions = sum(m.role == "champion" for m in members)
    total = sum(m.weight for m in members if m.role != "shadow")
    assert (errors == {}) == (champions == 1 and total == 100)


def test_shadow_with_weight_is_refused_naming_the_weight():
    errors = split_errors([RouteMember(1, "champion", 100), RouteMember(2, "shadow", 5)])
    assert "shadows take no traffic" in " ".join(errors["weight"])


def test_two_champions_are_refused_naming_the_role():
    errors = split_errors([RouteMember(1, "champion", 50), RouteMember(2, "champion", 50)])
    assert "exactly one champion" in errors["role"][0]


@given(members=valid_splits(), data=st.data())
def test_promoting_any_member_of_a_valid_split_gives_a_valid_split(members, data):
    target = data.draw(st.sampled_from([m for m in members if m.role != "champion"] or members))
    after = promoted(members, target.version_id)
    assert split_errors(after) == {}
    chosen = next(m for m in after if m.version_id == target.version_id)
    assert (chosen.role, chosen.weight) == ("champion", 100)
    assert all(m.weight == 0 for m in after if m.version_id != target.version_id)
