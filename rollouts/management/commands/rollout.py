import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.errors import ServiceError
from groups.models import ModelGroup
from registry.models import ModelVersion
from rollouts import services
from rollouts.models import ACTIVE_STATES, Rollout


def _group(slug: str) -> ModelGroup:
    group = ModelGroup.objects.filter(slug=slug).first()
    if group is None:
        raise CommandError(f"No group '{slug}'.")
    return group


def _rollout(slug: str, pk: int | None) -> Rollout:
    rollouts = Rollout.objects.filter(group=_group(slug))
    rollout = (
        rollouts.filter(pk=pk).first()
        if pk
        else (rollouts.filter(state__in=ACTIVE_STATES).first() or rollouts.first())
    )
    if rollout is None:
        raise CommandError(f"No rollout in '{slug}'" + (f" with id {pk}." if pk else "."))
    return rollout


class Command(BaseCommand):
    help = "Gated rollouts: start | status | pause | resume | abort."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["start", "status", "pause", "resume", "abort"])
        parser.add_argument("group", help="The group's slug.")
        parser.add_argument(
            "--id", type=int, help="The rollout (default: the group's active or latest one)."
        )
        parser.add_argument("--challenger", type=int, help="start: the model version id.")
        parser.add_argument(
            "--plan", default="{}", help="start: JSON, e.g. '{\"steps\": [5, 50, 100]}'."
        )
        parser.add_argument("--user", help="Who acts (a username); default: the system.")
        parser.add_argument("--reason", default="")

    def handle(self, *args, **options) -> None:
        actor = None
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user '{options['user']}'.")
        try:
            rollout = self._do(options, actor)
        except ServiceError as error:
            raise CommandError(error.message) from error
        self._status(rollout)

    def _do(self, options: dict, actor) -> Rollout:
        action, slug = options["action"], options["group"]
        if action == "start":
            return self._start(slug, options, actor)
        rollout = _rollout(slug, options["id"])
        if action == "status":
            return rollout
        return getattr(services, f"rollout_{action}")(
            rollout=rollout, actor=actor, reason=options["reason"]
        )

    def _start(self, slug: str, options: dict, actor) -> Rollout:
        version = ModelVersion.objects.filter(pk=options["challenger"]).first()
        if version is None:
            raise CommandError("start needs --challenger <model version id>.")
        try:
            plan = json.loads(options["plan"])
        except json.JSONDecodeError as error:
            raise CommandError(f"--plan is not JSON: {error}") from error
        return services.rollout_start(group=_group(slug), challenger=version, actor=actor, **plan)

    def _status(self, rollout: Rollout) -> None:
        rollout.refresh_from_db()
        self.stdout.write(
            f"Rollout #{rollout.pk} in {rollout.group.slug}: {rollout.state}, step {rollout.step_index} "
            f"({rollout.current_weight}% to {rollout.challenger})"
        )
        for decision in rollout.decisions.all():
            self.stdout.write(
                f"  {decision.at:%Y-%m-%d %H:%M:%S} {decision.action}: {decision.reason}"
            )
