from django.conf import settings
from django.db import models


class Team(models.Model):
    """Owns registered models and groups; its members operate on what it owns."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


DEFAULT_TEAM_SLUG = "default"


def default_team_id() -> int:
    """The team a model or group belongs to when nobody named one (made by migration)."""
    team, _ = Team.objects.get_or_create(slug=DEFAULT_TEAM_SLUG, defaults={"name": "Default team"})
    return team.pk
