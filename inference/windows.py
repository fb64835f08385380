"""The time windows the comparison and the inference browser offer (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

WINDOWS: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
WINDOW_LABELS = {"24h": "24 hours", "7d": "7 days", "30d": "30 days", "all": "All time"}
DEFAULT_WINDOW = "7d"


class InvalidWindow(ValueError):
    pass


def window_start(window: str, now: datetime) -> datetime | None:
    if window not in WINDOWS:
        raise InvalidWindow(f"Unknown window {window!r}: use one of {', '.join(WINDOWS)}.")
    span = WINDOWS[window]
    return now - span if span else None


def window_or_default(window: str | None) -> str:
    """A page's `?window=`: an unknown one shows the default window."""
    return window if window in WINDOWS else DEFAULT_WINDOW
