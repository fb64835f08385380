from django.core.management.base import BaseCommand, CommandError

from providers.crypto import KeyringError
from providers.services import provider_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every provider API key with the first key of HUB_ENCRYPTION_KEYS. "
        "Put the new key first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args, **options) -> None:
        try:
            rotated = provider_keys_rotate()
        except KeyringError as exc:
            raise CommandError(f"{exc} No key was changed.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted {rotated} provider key{'s' if rotated != 1 else ''} with the first key."
            )
        )
