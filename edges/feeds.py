"""Which feed each venue's edge reads (VENUE_FEED_<VENUE>: sim or live) and the live feed's settings:
the Django-settings side of venues/live, which reads no settings itself."""

from __future__ import annotations

from django.conf import settings

from venues.live.factory import FeedConfig


def venue_feed_mode(venue: str) -> str:
    """ "live" or "sim": the VENUE_FEED_<VENUE> setting (sim when a venue has none)."""
    return getattr(settings, f"VENUE_FEED_{venue.upper()}", "sim")


def venue_feed_config(venue: str) -> FeedConfig:
    """The live feed settings of `venue` (VENUE_FEED_<VENUE>_WS_URL, _REST_URL, _OPTIONS and the
    shared limits) for venues/live, which reads no Django settings itself."""
    v = venue.upper()
    return FeedConfig(
        ws_url=getattr(settings, f"VENUE_FEED_{v}_WS_URL", ""),
        rest_url=getattr(settings, f"VENUE_FEED_{v}_REST_URL", ""),
        silence_s=settings.VENUE_FEED_SILENCE_SECONDS,
        stale_after_s=settings.VENUE_FEED_STALE_AFTER_SECONDS,
        options=dict(getattr(settings, f"VENUE_FEED_{v}_OPTIONS", {})),
        busy_poll_us=settings.VENUE_FEED_BUSY_POLL_US,
    )
