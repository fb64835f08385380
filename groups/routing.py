"""Which member answers a request, and whether a split of roles and weights is valid.

Pure Python (no Django) so it can be tested exhaustively: `groups.selectors` feeds it the
cached routing table, `groups.services` checks every change with `split_errors`.
"""

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

CHAMPION = "champion"
CHALLENGER = "challenger"
SHADOW = "shadow"
ROLES = (CHAMPION, CHALLENGER, SHADOW)


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
    sticky: bool,
    rand: Callable[[], float] = random.random,
) -> RouteMember:
    """Pick the member that answers, by weight; shadows are never chosen.

    A routing key always picks by its stable hash (so one applicant meets one model while
    the weights stand), whatever the mode. Sticky mode without a key has nothing to stick
    to and falls back to a weighted random choice; `sticky` is accepted for callers that
    want to say so.
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


def split_errors(members: Sequence[RouteMember], *, active: bool = True) -> dict[str, list[str]]:
    """What is wrong with a split of roles and weights, by field; empty when it is valid.

    An active group has exactly one champion; champion and challenger weights sum to 100;
    shadows take no traffic; every weight is within 0-100.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for member in members:
        if member.role not in ROLES:
            add(
                "role", f"{_label(member)}: {member.role!r} is not a role (use {', '.join(ROLES)})."
            )
        if not 0 <= member.weight <= 100:
            add("weight", f"{_label(member)}: a weight is between 0 and 100, not {member.weight}.")
        elif member.role == SHADOW and member.weight != 0:
            add("weight", f"{_label(member)} is a shadow: shadows take no traffic (weight 0).")
    champions = [m for m in members if m.role == CHAMPION]
    if len(champions) > 1 or (active and not champions):
        add(
            "role",
            "An active group needs exactly one champion"
            + (f", not {len(champions)}." if champions else "; choose one."),
        )
    if members and (active or champions):
        total = sum(m.weight for m in members if m.role in (CHAMPION, CHALLENGER))
        if total != 100:
            add("weight", f"Champion and challenger weights must sum to 100, not {total}.")
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
