from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=True)
def check_secret_key(**kwargs) -> list[Error]:
    try:
        secret = settings.SECRET_KEY
    except ImproperlyConfigured:
        secret = ""
    if secret:
        return []
    return [
        Error(
            "SECRET_KEY is not set.",
            hint="Set the SECRET_KEY environment variable to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))').",
            id="hub.E001",
        )
    ]


@register(Tags.security, deploy=True)
def check_production_services(**kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    errors = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        errors.append(
            Error(
                "Production (DEBUG=false) needs PostgreSQL.",
                hint="Set DATABASE_URL=postgres://user:password@host:5432/dbname.",
                id="hub.E002",
            )
        )
    if not settings.REDIS_URL:
        errors.append(
            Error(
                "Production (DEBUG=false) needs Redis for the Celery broker and the cache.",
                hint="Set REDIS_URL=redis://host:6379/0.",
                id="hub.E003",
            )
        )
    return errors


@register()
def check_routing_overrides(**kwargs) -> list[Error]:
    bad = {
        slug: value
        for slug, value in settings.HUB_ROUTING_OVERRIDES.items()
        if not str(value).strip().isdigit()
    }
    if not bad:
        return []
    return [
        Error(
            f"HUB_ROUTING_OVERRIDES has values that are not model version ids: {bad}.",
            hint="Write it as group-slug=<version id>, comma-separated, e.g. "
            "HUB_ROUTING_OVERRIDES=live-credit-scoring=12.",
            id="hub.E004",
        )
    ]
