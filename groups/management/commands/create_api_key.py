import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.errors import ServiceError
from core.models import Team
from core.roles import SCOPES
from groups.models import ModelGroup
from groups.services import api_key_create

EXPIRY = re.compile(r"^(\d+)([dhw])$")
EXPIRY_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str) -> timedelta:
    """ "90d" -> 90 days; also hours (12h) and weeks (2w)."""
    match = EXPIRY.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise CommandError(f"expires: {text!r} is not a duration such as 90d, 12h or 2w.")
    return timedelta(**{EXPIRY_UNITS[match.group(2)]: int(match.group(1))})


def _split(text: str) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _scopes(text: str) -> list[str]:
    scopes = _split(text)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise CommandError(
            f"scopes: unknown scope {', '.join(unknown) or '(none given)'}; use {', '.join(SCOPES)}."
        )
    return scopes


def _groups(slugs: list[str], all_groups: bool) -> list[ModelGroup]:
    if not slugs and not all_groups:
        raise CommandError("groups: give --groups a,b or --all-groups (no groups is not all).")
    found = list(ModelGroup.objects.filter(slug__in=slugs))
    missing = sorted(set(slugs) - {g.slug for g in found})
    if missing:
        raise CommandError(f"groups: no group with slug {', '.join(missing)}.")
    return found


class Command(BaseCommand):
    help = "Create an API key for a team and print it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Who or what uses the key.")
        parser.add_argument("--team", required=True, help="The slug of the key's team.")
        parser.add_argument(
            "--scopes", required=True, help=f"Comma-separated, among {', '.join(SCOPES)}."
        )
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--groups", default="", help="Comma-separated slugs of team groups.")
        where.add_argument(
            "--all-groups", action="store_true", help="Every group of the team, present and future."
        )
        parser.add_argument("--expires", default="", help="e.g. 90d, 12h, 2w (default: never).")

    def handle(self, *args, name: str, team: str, scopes: str, **options) -> None:
        owner = Team.objects.filter(slug=team).first()
        if owner is None:
            raise CommandError(f"team: no team with slug {team!r}.")
        scope_list = _scopes(scopes)
        slugs, all_groups = _split(options["groups"]), options["all_groups"]
        found = _groups(slugs, all_groups)
        expires = options["expires"]
        expires_at = timezone.now() + parse_expiry(expires) if expires else None
        try:
            api_key, plaintext = api_key_create(
                name=name,
                team=owner,
                scopes=scope_list,
                groups=found,
                all_groups=all_groups,
                expires_at=expires_at,
            )
        except ServiceError as error:
            raise CommandError(error.message) from error
        where = "all groups of " + owner.slug if all_groups else ", ".join(slugs)
        until = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
        # The key goes to stdout alone on its line so scripts can capture it; the rest to stderr.
        self.stderr.write(
            f"API key {api_key.name!r} ({', '.join(api_key.scopes)} on {where}{until}). "
            "Copy it now: it will not be shown again."
        )
        self.stdout.write(plaintext)
