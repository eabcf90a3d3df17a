"""The live venues' catalogues in the database: what /v1/markets lists when a venue's feed is live.

`sync_catalogue(venue)` fetches the venue's public catalogue (Kalshi's markets and events,
Polymarket's Gamma events joined with the CLOB's tick and minimum size, Kraken's pairs, Coinbase's
products: venues/<venue>/catalogue.py) and replaces that venue's `VenueMarket` rows in one
transaction, so a reader sees the old catalogue or the new one, never half of each. It runs on a
Celery beat schedule (`edges.sync_catalogues`, every VENUE_CATALOGUE_SYNC_SECONDS) for every venue
whose feed is live, and on demand (`manage.py sync_catalogues`). A venue on the simulator keeps the
simulated catalogue (venues/instruments.py) and is never fetched: `make run` stays offline.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import transaction
from django.utils import timezone

from edges.feeds import venue_feed_config, venue_feed_mode
from edges.models import VenueMarket
from venues.instruments import (
    PREDICTION_VENUES,
    PRICE_SCALE,
    QTY_SCALE,
    VENUES,
    Instrument,
    PredictionMarket,
    decimal_text,
    symbol_spellings,
)


def _prediction_catalogue(venue: str) -> tuple[list[PredictionMarket], list[Instrument]]:
    from venues.live.rest import RestClient

    config = venue_feed_config(venue)
    if venue == "kalshi":
        from venues.kalshi.catalogue import fetch_catalogue as fetch_kalshi
        from venues.live.factory import KALSHI_REST_URL

        cat = fetch_kalshi(RestClient(config.rest_url or KALSHI_REST_URL))
        return list(cat.markets), list(cat.instruments)
    from venues.polymarket.catalogue import DEFAULT_CLOB_URL, DEFAULT_GAMMA_URL, fetch_catalogue

    gamma = RestClient(config.rest_url or DEFAULT_GAMMA_URL)
    clob = RestClient(config.options.get("clob_url") or DEFAULT_CLOB_URL)
    entries, _notes = fetch_catalogue(gamma, clob)
    return [e.row for e in entries], [inst for e in entries for inst in (e.yes, e.no)]


def _spot_instruments(venue: str) -> list[Instrument]:
    from venues.live.factory import CATALOGUES

    return CATALOGUES[venue](venue_feed_config(venue))


def spot_rules(inst: Instrument) -> dict[str, Any]:
    """A spot pair's rules as stored and listed (decimal text, like the venue writes them)."""
    return {
        "symbol": inst.symbol,
        "tick_size": decimal_text(inst.tick_1e9, PRICE_SCALE),
        "lot_size": decimal_text(inst.lot_1e8, QTY_SCALE),
        "min_qty": decimal_text(inst.min_qty_1e8, QTY_SCALE),
        "min_notional": decimal_text(inst.min_notional_1e9, PRICE_SCALE),
        "active": inst.active,
    }


def sync_catalogue(venue: str) -> int:
    """Fetch `venue`'s catalogue and make it the stored one; returns how many entries it has.
    A failed fetch raises and leaves the stored catalogue as it was."""
    if venue not in VENUES:
        raise ValueError(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
    now = timezone.now()
    if venue in PREDICTION_VENUES:
        found, instruments = _prediction_catalogue(venue)
        rows = [
            VenueMarket(
                venue=venue,
                key=m.ticker if venue == "kalshi" else m.yes_token_id,
                kind="prediction",
                position=i,
                data=dataclasses.asdict(m),
                synced_at=now,
            )
            for i, m in enumerate(found)
        ]
    else:
        instruments = _spot_instruments(venue)
        rows = [
            VenueMarket(
                venue=venue, key=inst.symbol, kind="spot", position=i, data=spot_rules(inst), synced_at=now
            )
            for i, inst in enumerate(instruments)
        ]
    # Every tradable symbol's rules, for /v1/quotes and the symbol look-ups.
    rows += [
        VenueMarket(
            venue=venue,
            key=f"inst:{inst.symbol}",
            kind="instrument",
            position=i,
            data=dataclasses.asdict(inst),
            synced_at=now,
        )
        for i, inst in enumerate(instruments)
    ]
    seen: set[str] = set()
    unique = [r for r in rows if not (r.key in seen or seen.add(r.key))]  # type: ignore[func-returns-value]
    with transaction.atomic():
        VenueMarket.objects.filter(venue=venue).delete()
        VenueMarket.objects.bulk_create(unique)
    return sum(1 for r in unique if r.kind != "instrument")


def live_catalogue_venues() -> list[str]:
    """The venues whose catalogue is synced here: those whose feed is live, and the prediction
    venues traded live (LIVE_TRADING_VENUES): a live order's market must be one the venue really
    lists, and the simulator's prediction markets are made up (spot pairs are spelled the same
    either way, so a spot venue traded live on a simulated feed stays offline)."""
    from django.conf import settings

    traded = set(settings.LIVE_TRADING_VENUES) & set(PREDICTION_VENUES)
    return [v for v in VENUES if venue_feed_mode(v) == "live" or v in traded]


def sync_live_catalogues() -> dict[str, int | str]:
    """Sync every live venue's catalogue: {venue: entries, or the error that stopped it}. One
    venue's failure (down, 429) leaves its stored catalogue and does not stop the others."""
    done: dict[str, int | str] = {}
    for venue in live_catalogue_venues():
        try:
            done[venue] = sync_catalogue(venue)
        except Exception as exc:  # noqa: BLE001 - reported per venue; the next beat tries again
            done[venue] = f"{type(exc).__name__}: {exc}"
    return done


def stored_markets(venue: str) -> list[PredictionMarket] | None:
    """The synced prediction markets of `venue` in the venue's order (None: never synced)."""
    rows = list(VenueMarket.objects.filter(venue=venue, kind="prediction").order_by("position"))
    if not rows:
        return None if not VenueMarket.objects.filter(venue=venue).exists() else []
    return [PredictionMarket(**r.data) for r in rows]


def stored_pairs(venue: str) -> list[dict[str, Any]] | None:
    """The synced spot pairs of `venue` (their rules), or None when never synced."""
    rows = list(VenueMarket.objects.filter(venue=venue, kind="spot").order_by("position"))
    return [r.data for r in rows] if rows else None


def stored_synced(venue: str) -> bool:
    """Whether `venue`'s catalogue has ever been synced here."""
    return VenueMarket.objects.filter(venue=venue).exists()


def stored_instrument(venue: str, symbol: str) -> Instrument | None:
    """`symbol` (any accepted spelling) in `venue`'s synced catalogue, or None."""
    keys = [f"inst:{s}" for s in symbol_spellings(symbol)]
    row = VenueMarket.objects.filter(venue=venue, kind="instrument", key__in=keys).first()
    if row is None:
        return None
    data = dict(row.data)
    # rows synced before the field existed: only Polymarket's minimum notional rests
    data.setdefault("min_notional_rests", venue == "polymarket")
    return Instrument(**data)
