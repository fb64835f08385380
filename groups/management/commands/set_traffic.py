from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ServiceError
from groups.models import ModelGroup, PendingChange
from groups.services import group_set_traffic


def parse_weights(text: str) -> dict[int, int]:
    """ "12=90,13=10" -> {12: 90, 13: 10}."""
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        version_id, sep, weight = item.partition("=")
        if not sep:
            raise CommandError(f"weights: {item!r} is not VERSION_ID=WEIGHT.")
        try:
            weights[int(version_id)] = int(weight)
        except ValueError as exc:
            raise CommandError(
                f"weights: {item!r} is not VERSION_ID=WEIGHT with whole numbers."
            ) from exc
    if not weights:
        raise CommandError("weights: give at least one VERSION_ID=WEIGHT.")
    return weights


class Command(BaseCommand):
    help = "Set the canary weights of a group's champion and challengers (they sum to 100)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--group", required=True, help="The group's slug.")
        parser.add_argument(
            "--weights", required=True, help="VERSION_ID=WEIGHT pairs, e.g. 12=90,13=10."
        )
        parser.add_argument("--reason", default="", help="Kept in the audit trail.")
        parser.add_argument("--actor", default=None, help="Username recorded as who did it.")

    def handle(
        self, *args, group: str, weights: str, reason: str, actor: str | None, **options
    ) -> None:
        target = ModelGroup.objects.filter(slug=group).first()
        if target is None:
            raise CommandError(f"group: no group with slug {group!r}.")
        user = get_user_model().objects.filter(username=actor).first() if actor else None
        if actor and user is None:
            raise CommandError(f"actor: no user named {actor!r}.")
        try:
            change = group_set_traffic(
                group=target, weights=parse_weights(weights), actor=user, reason=reason
            )
        except ServiceError as error:
            raise CommandError(error.message) from error
        if isinstance(change, PendingChange):
            self.stdout.write(
                f"{target.name} requires approval: pending change {change.pk} waits until "
                "another person approves it."
            )
            return
        split = ", ".join(
            f"{row['model_version']}={row['weight']}"
            for row in change.weights_after
            if row["role"] != "shadow"
        )
        self.stdout.write(self.style.SUCCESS(f"Traffic of {target.name}: {split}."))
