"""manage.py monitor_reference --group <slug> --member 1.2 --days 7: a member's own
recent traffic as its reference ("use last week of 1.2 as reference")."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from groups.models import ModelGroup
from monitoring.reference import reference_from_window


class Command(BaseCommand):
    help = "Use a window of a member's live traffic as its monitoring reference."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--group", required=True)
        parser.add_argument(
            "--member", required=True, help="The member's version label (e.g. 1.2)."
        )
        parser.add_argument("--days", type=int, default=7)

    def handle(self, *args, group: str, member: str, days: int, **options) -> None:
        found = ModelGroup.objects.filter(slug=group).first()
        membership = found and found.memberships.filter(model_version__version=member).first()
        if not membership:
            raise CommandError(f"No member {member!r} in a group {group!r}.")
        end = timezone.now()
        ref = reference_from_window(
            group=found,
            model_version=membership.model_version,
            start=end - timedelta(days=days),
            end=end,
        )
        self.stdout.write(
            self.style.SUCCESS(f"Reference of {membership.model_version}: {ref.rows} rows.")
        )
