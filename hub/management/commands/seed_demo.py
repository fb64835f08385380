"""Demo data for a newcomer: a login, two real Credit Scoring versions, a live group with
replayed traffic and feedback. Idempotent: run it as often as you like."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from core import roles
from core.services import team_ensure, user_with_role_ensure

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-model-hub"
# One login per role, all in the team that owns the demo models, to feel the difference.
ROLE_USERS = {
    "viewer": roles.VIEWER,
    "operator": roles.OPERATOR,
    "approver": roles.APPROVER,
    "admin": roles.ADMIN,
}


class Command(BaseCommand):
    help = "Seed the demo login, models, group and traffic (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--print-login", action="store_true", help="Only print the demo login.")
        parser.add_argument(
            "--requests", type=int, default=3000, help="Predictions to replay into the demo group."
        )

    def handle(self, *args, print_login: bool = False, requests: int = 3000, **options) -> None:
        if print_login:
            self.stdout.write(f"  Demo login: {DEMO_USERNAME} / {DEMO_PASSWORD} (superuser)")
            logins = ", ".join(f"{name} ({role})" for name, role in ROLE_USERS.items())
            self.stdout.write(f"  One login per role, same password: {logins}")
            return
        from inference.demo import demo_traffic_seed
        from registry.demo import demo_models_seed

        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        team = team_ensure()
        team.members.add(user)
        logins = {
            username: user_with_role_ensure(
                username=username, password=DEMO_PASSWORD, role=role, team=team
            )
            for username, role in ROLE_USERS.items()
        }
        versions = demo_models_seed(owner=user)
        # The inventory entry: purpose, limitations, tier 1, validated by the approver login.
        from registry.demo import demo_inventory_seed

        demo_inventory_seed(validator=logins["approver"])
        replayed = demo_traffic_seed(versions=versions, requests=requests, actor=user)
        # Monitoring: references from the hold-out, a drift episode (incomes +60%, last two
        # days), a week of daily snapshots and an income alert (monitoring/demo.py).
        from inference.demo import DEMO_GROUP_NAME
        from monitoring.demo import demo_monitoring_seed

        demo_monitoring_seed(versions=versions, group_name=DEMO_GROUP_NAME, actor=user)
        # A regression and a multiclass group, replayed the same way (inference/demo_tasks.py).
        from inference.demo_tasks import demo_tasks_seed

        demo_tasks_seed(requests=min(requests, 500), actor=user)
        # The Model Library: four baseline recipes, a grocery industry child and a client
        # child (recipes/baselines.py), and one queued train run per baseline.
        from training.demo import demo_runs_seed

        demo_runs_seed()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {len(versions)} Credit Scoring versions, {replayed} predictions "
                "replayed; Dynamic Pricing and Next Best Action seeded."
            )
        )
