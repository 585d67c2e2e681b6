"""Times given by people (``--since``, ``since=``): ISO 8601, UTC unless the text says otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

from streamer.archive.errors import BadTimeError


def parse_time(text: str, field: str) -> datetime:
    """``2026-11-25T14:00:00Z``, ``2026-11-25 14:00+01:00`` or ``2026-11-25`` as an aware datetime (naive = UTC).

    Raises:
        BadTimeError: naming ``field`` and the text.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadTimeError(f"{field}: not an ISO 8601 time (such as 2026-11-25T14:00:00Z): {text[:40]!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
