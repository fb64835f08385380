"""API keys encrypted at rest with a Fernet key ring (settings.HUB_ENCRYPTION_KEYS).

The first key encrypts; every key decrypts, so a new key can be put in front of the old
ones, `manage.py rotate_provider_keys` run, and the old key retired afterwards.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class KeyringError(Exception):
    """The key ring is missing, malformed, or cannot decrypt a stored key.

    The message names the provider (when there is one) and never contains key material.
    """

    def __init__(self, message: str, *, provider_name: str = "") -> None:
        super().__init__(message)
        self.provider_name = provider_name


def keyring_problems(keys: list[str]) -> list[str]:
    """What is wrong with a key ring, as human sentences (empty when it is usable)."""
    if not keys:
        return ["HUB_ENCRYPTION_KEYS is empty."]
    problems = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.strip())
        except (ValueError, TypeError):
            # Never echo the key itself: say which one is bad.
            problems.append(
                f"Key number {position} of HUB_ENCRYPTION_KEYS is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            )
    return problems


def _keyring() -> MultiFernet:
    # Read at call time: settings may change (tests, rotation) after import.
    keys = [k.strip() for k in settings.HUB_ENCRYPTION_KEYS if k and k.strip()]
    problems = keyring_problems(keys)
    if problems:
        raise KeyringError(" ".join(problems) + " Run `manage.py check` for a hint.")
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(plaintext: str) -> str:
    return _keyring().encrypt(plaintext.encode()).decode()


def decrypt(token: str, *, provider_name: str) -> str:
    keyring = _keyring()
    try:
        return keyring.decrypt(token.encode()).decode()
    except InvalidToken:
        raise KeyringError(
            f"The API key of provider “{provider_name}” cannot be decrypted with the configured "
            "HUB_ENCRYPTION_KEYS: the key it was encrypted with is not in the key ring. Put that "
            "key back (after the current one) or enter the provider's API key again in the admin.",
            provider_name=provider_name,
        ) from None


def rotate(token: str, *, provider_name: str) -> str:
    """Re-encrypt a token with the first key of the ring."""
    keyring = _keyring()
    try:
        return keyring.rotate(token.encode()).decode()
    except InvalidToken:
        raise KeyringError(
            f"The API key of provider “{provider_name}” cannot be re-encrypted: none of the "
            "HUB_ENCRYPTION_KEYS decrypts it. Put the old key back (after the new one) and run "
            "the rotation again, or enter the provider's API key again in the admin.",
            provider_name=provider_name,
        ) from None
