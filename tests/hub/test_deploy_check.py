import os
import subprocess
import sys

from cryptography.fernet import Fernet
from django.conf import settings

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "prod-" + "k3y-with-enough-entropy-for-django-deploy-checks-0123456789",
    "ALLOWED_HOSTS": "hub.example.com",
    "DATABASE_URL": "postgres://hub:secret@db.example.com:5432/hub",
    "REDIS_URL": "redis://cache.example.com:6379/0",
}


def run_deploy_check(**environment: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in PRODUCTION and k not in ("HUB_ENCRYPTION_KEYS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update(environment)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_passes_with_a_complete_production_environment():
    result = run_deploy_check(**PRODUCTION, HUB_ENCRYPTION_KEYS=Fernet.generate_key().decode())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_fails_naming_the_missing_secret_key():
    env = {**PRODUCTION, "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    del env["SECRET_KEY"]

    result = run_deploy_check(**env)

    assert result.returncode != 0
    assert "hub.E001" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


def test_deploy_check_fails_without_redis_in_production():
    env = {**PRODUCTION, "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    del env["REDIS_URL"]

    result = run_deploy_check(**env)

    assert result.returncode != 0
    assert "hub.E003" in result.stderr


def test_a_routing_override_that_is_not_a_version_id_stops_start_up():
    result = run_deploy_check(
        **PRODUCTION,
        HUB_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        HUB_ROUTING_OVERRIDES="live-credit-scoring=latest",
    )

    assert result.returncode != 0
    assert "hub.E004" in result.stderr
