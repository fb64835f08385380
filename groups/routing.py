"""Which member answers a request, and whether a split of roles and weights is valid.

Pure Python (no Django) so it can be tested exhaustively: `groups.selectors` feeds it the
cached routing table, `groups.services` checks every change with `split_errors`.
"""

import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"
SHADOW = "shadow"
# Also the order members are shown in: champion, challengers, shadows.
ROLES = (CHAMPION, CHALLENGER, SHADOW)
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}

STICKY = "sticky"


def _field(member: Any, name: str) -> Any:
    return member.get(name) if isinstance(member, dict) else getattr(member, name, None)


def _version_id(member: Any) -> int:
    for name in ("model_version_id", "version_id", "model_version"):
        value = _field(member, name)
        if value is not None:
            return value
    return 0


def by_role[Member](members: Iterable[Member]) -> list[Member]:
    """Members in the one order every page and answer shows them: champion, challengers,
    shadows; heavier weight first within a role; then by version id (stable).

    Takes anything with `role` and `weight` (Membership rows, RouteMember, dicts, ...)."""
    return sorted(
        members,
        key=lambda m: (
            ROLE_RANK.get(str(_field(m, "role")), len(ROLES)),
            -_field(m, "weight"),
            _version_id(m),
        ),
    )


def routing_key_errors(*, routing_mode: str, routing_key: str | None) -> dict[str, list[str]]:
    """A sticky group promises one applicant one model: a request without a routing key
    has nothing to stick to and is refused (400) instead of routed at random.

    Empty when the request may be routed. The serving path calls it before `choose`."""
    if routing_mode == STICKY and not (routing_key or "").strip():
        return {
            "routing_key": [
                "This group routes by routing key (sticky): send a routing_key, e.g. the "
                "applicant id, so the same applicant always meets the same model."
            ]
        }
    return {}


@dataclass(frozen=True)
class RouteMember:
    version_id: int
    role: str
    weight: int
    # For the response body ({"model": {"name", "version", "id"}}) without a query.
    model_name: str = ""
    version: str = ""


class NoRoute(LookupError):
    """No member can take traffic (no champion, every weight zero)."""


def key_point(routing_key: str) -> float:
    """A stable point in [0, 1) for a routing key: the same key, the same point, everywhere.

    sha256 rather than hash(): Python salts str hashes per process, and the promise is
    that the same applicant meets the same model in every worker.
    """
    digest = hashlib.sha256(routing_key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose(
    members: Sequence[RouteMember],
    *,
    routing_key: str | None,
    rand: Callable[[], float] = random.random,
) -> RouteMember:
    """Pick the member that answers, by weight; shadows are never chosen.

    A routing key always picks by its stable hash (so one applicant meets one model while
    the weights stand), whatever the mode. A sticky group refuses requests without a key
    before they get here (`routing_key_errors`).
    """
    # Sorted by version id so the stable point maps to the same member whatever order
    # the database returned them in.
    eligible = sorted(
        (m for m in members if m.role != SHADOW and m.weight > 0), key=lambda m: m.version_id
    )
    if not eligible:
        champions = [m for m in members if m.role == CHAMPION]
        if champions:
            return champions[0]
        raise NoRoute("This group has no member that takes traffic.")
    point = key_point(routing_key) if routing_key else rand()
    target = point * sum(m.weight for m in eligible)
    cumulative = 0
    for member in eligible:
        cumulative += member.weight
        if target < cumulative:
            return member
    return eligible[-1]  # point == 1.0 from a custom rand()


def _member_errors(member: RouteMember) -> list[tuple[str, str]]:
    errors = []
    if member.role not in ROLES:
        errors.append(
            ("role", f"{_label(member)}: {member.role!r} is not a role (use {', '.join(ROLES)}).")
        )
    if not 0 <= member.weight <= 100:
        errors.append(
            ("weight", f"{_label(member)}: a weight is between 0 and 100, not {member.weight}.")
        )
    elif member.role == SHADOW and member.weight != 0:
        errors.append(
            ("weight", f"{_label(member)} is a shadow: shadows take no traffic (weight 0).")
        )
    return errors


def _split_totals_errors(members: Sequence[RouteMember], active: bool) -> list[tuple[str, str]]:
    errors = []
    champions = [m for m in members if m.role == CHAMPION]
    if len(champions) > 1 or (active and not champions):
        errors.append(
            (
                "role",
                "An active group needs exactly one champion"
                + (f", not {len(champions)}." if champions else "; choose one."),
            )
        )
    if members and (active or champions):
        total = sum(m.weight for m in members if m.role in (CHAMPION, CHALLENGER))
        if total != 100:
            errors.append(
                ("weight", f"Champion and challenger weights must sum to 100, not {total}.")
            )
    return errors


def split_errors(members: Sequence[RouteMember], *, active: bool = True) -> dict[str, list[str]]:
    """What is wrong with a split of roles and weights, by field; empty when it is valid.

    An active group has exactly one champion; champion and challenger weights sum to 100;
    shadows take no traffic; every weight is within 0-100.
    """
    errors: dict[str, list[str]] = {}
    found = [e for member in members for e in _member_errors(member)]
    for field, message in found + _split_totals_errors(members, active):
        errors.setdefault(field, []).append(message)
    return errors


def _label(member: RouteMember) -> str:
    if member.model_name:
        return f"{member.model_name} {member.version}"
    return f"version {member.version_id}"


def promoted(
    members: Sequence[RouteMember], version_id: int, *, former_champion_role: str = CHALLENGER
) -> tuple[RouteMember, ...]:
    """The split after promoting one member: it takes 100%, every other challenger 0.

    The former champion stays as `former_champion_role` at 0; shadows are untouched. Used
    by the promotion itself and by the pages' "what will change" preview.
    """
    result = []
    for member in members:
        if member.version_id == version_id:
            result.append(replace(member, role=CHAMPION, weight=100))
        elif member.role == CHAMPION:
            result.append(replace(member, role=former_champion_role, weight=0))
        elif member.role == CHALLENGER:
            result.append(replace(member, weight=0))
        else:
            result.append(member)
    return tuple(result)
