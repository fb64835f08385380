from django.conf import settings
from django.core.checks import Error, Tags, register

from providers.crypto import keyring_problems

GENERATE_HINT = (
    "Set HUB_ENCRYPTION_KEYS to one or more comma-separated Fernet keys (the first encrypts, "
    'all decrypt). Generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


@register(Tags.security)
def check_encryption_keys(**kwargs) -> list[Error]:
    # Development generates a key into var/local-secrets.env (hub/settings.py), so an empty
    # ring only happens when production (DEBUG=false) forgot it: the stored provider keys
    # could be neither written nor read.
    keys = [k.strip() for k in settings.HUB_ENCRYPTION_KEYS if k and k.strip()]
    return [
        Error(
            f"Provider API keys cannot be encrypted: {problem}",
            hint=GENERATE_HINT,
            id="providers.E001",
        )
        for problem in keyring_problems(keys)
    ]
