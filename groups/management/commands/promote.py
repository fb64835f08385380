from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ServiceError
from groups.models import ModelGroup, PendingChange, Role
from groups.services import group_promote
from registry.models import ModelVersion


class Command(BaseCommand):
    help = "Make a member of a group its champion with 100% of the traffic."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--group", required=True, help="The group's slug.")
        parser.add_argument(
            "--model-version",
            "--version-id",
            dest="version_id",
            type=int,
            required=True,
            help="The id of the model version to promote.",
        )
        parser.add_argument("--reason", default="", help="Kept in the audit trail.")
        parser.add_argument(
            "--former-champion-role",
            choices=[Role.CHALLENGER, Role.SHADOW],
            default=Role.CHALLENGER,
            help="What the former champion becomes (weight 0).",
        )
        parser.add_argument("--actor", default=None, help="Username recorded as who did it.")

    def handle(
        self,
        *args,
        group: str,
        version_id: int,
        reason: str,
        former_champion_role: str,
        actor: str | None,
        **options,
    ) -> None:
        target = ModelGroup.objects.filter(slug=group).first()
        if target is None:
            raise CommandError(f"group: no group with slug {group!r}.")
        version = ModelVersion.objects.select_related("model").filter(pk=version_id).first()
        if version is None:
            raise CommandError(f"model-version: no model version with id {version_id}.")
        user = get_user_model().objects.filter(username=actor).first() if actor else None
        if actor and user is None:
            raise CommandError(f"actor: no user named {actor!r}.")
        try:
            change = group_promote(
                group=target,
                model_version=version,
                actor=user,
                reason=reason,
                former_champion_role=former_champion_role,
            )
        except ServiceError as error:
            raise CommandError(error.message) from error
        if isinstance(change, PendingChange):
            self.stdout.write(
                f"{target.name} requires approval: pending change {change.pk} waits until "
                "another person approves it."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{change.to_version} is now the champion of {target.name} with 100% of the traffic "
                f"(was {change.from_version or 'none'})."
            )
        )
