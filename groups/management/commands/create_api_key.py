from django.core.management.base import BaseCommand, CommandError, CommandParser

from groups.auth import api_key_create
from groups.models import ModelGroup
from groups.services import GroupValidationError


class Command(BaseCommand):
    help = "Create an API key and print it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Who or what uses the key.")
        parser.add_argument(
            "--groups",
            default="",
            help="Comma-separated group slugs the key may call; omit for all groups.",
        )

    def handle(self, *args, name: str, groups: str, **options) -> None:
        slugs = [slug.strip() for slug in groups.split(",") if slug.strip()]
        found = list(ModelGroup.objects.filter(slug__in=slugs))
        missing = sorted(set(slugs) - {g.slug for g in found})
        if missing:
            raise CommandError(f"groups: no group with slug {', '.join(missing)}.")
        try:
            api_key, plaintext = api_key_create(name=name, groups=found, all_groups=not slugs)
        except GroupValidationError as error:
            raise CommandError(str(error)) from error
        scope = ", ".join(slugs) if slugs else "all groups"
        # The key goes to stdout alone on its line so scripts can capture it; the rest to stderr.
        self.stderr.write(
            f"API key {api_key.name!r} ({scope}). Copy it now: it will not be shown again."
        )
        self.stdout.write(plaintext)
