from cryptography.fernet import Fernet

from providers.checks import check_encryption_keys


def _ids(errors):
    return [e.id for e in errors]


def test_a_valid_key_ring_passes(settings):
    settings.HUB_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]

    assert check_encryption_keys() == []


def test_an_empty_key_ring_fails_with_a_hint_to_generate_one(settings):
    settings.HUB_ENCRYPTION_KEYS = []

    errors = check_encryption_keys()

    assert _ids(errors) == ["providers.E001"]
    assert "Fernet.generate_key()" in errors[0].hint


def test_an_invalid_key_fails_without_echoing_it(settings):
    settings.HUB_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "not-a-fernet-key-at-all"]

    errors = check_encryption_keys()

    assert _ids(errors) == ["providers.E001"]
    assert "Key number 2" in errors[0].msg
    assert "not-a-fernet-key-at-all" not in errors[0].msg


def test_the_check_is_registered_with_django(settings):
    from django.core.checks import run_checks

    settings.HUB_ENCRYPTION_KEYS = []

    assert "providers.E001" in _ids(run_checks())


def test_production_start_up_fails_without_a_key_ring():
    import os
    import subprocess
    import sys

    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if k not in ("HUB_ENCRYPTION_KEYS", "DATABASE_URL")}
    env.update(DEBUG="false", SECRET_KEY="prod-" + "x" * 60, ALLOWED_HOSTS="hub.example.com")

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "providers.E001" in result.stderr
    assert "HUB_ENCRYPTION_KEYS is empty" in result.stderr
    assert "Fernet.generate_key()" in result.stderr
