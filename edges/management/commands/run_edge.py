from __future__ import annotations

import argparse
import gc
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from edges.feeds import venue_feed_mode
from edges.worker import EdgeRunner, EdgeWorker
from venues.instruments import VENUES
from venues.live.factory import BUILDERS
from venues.live.rest import RestError
from venues.order_clients import ORDER_CLIENTS


class Command(BaseCommand):
    help = (
        "Run venue edge(s): market data (simulated, or the venue's live feed with paper fills), "
        "the WASM algos deployed to them, reports."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--venue",
            action="append",
            required=True,
            choices=VENUES,
            help="venue to run an edge for; repeat to run several in this process",
        )
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--sandbox", action="store_true", help="a sandbox edge (seq_test_ deployments)")
        mode.add_argument("--live", action="store_true", help="a live edge (seq_live_ deployments)")
        parser.add_argument(
            "--record",
            action=argparse.BooleanOptionalAction,
            default=settings.EDGE_RECORD_MARKET_DATA,
            help="record book updates to MARKET_DATA_DIR for backtests (default: EDGE_RECORD_MARKET_DATA)",
        )
        parser.add_argument(
            "--seed",
            default=None,
            help="simulated market seed (default: the same for every edge, so the venues quote one market)",
        )
        parser.add_argument(
            "--feed",
            choices=("live", "sim"),
            default=None,
            help="market data: the venue's live public feed (paper fills on the real book) or the "
            "simulator (default: each venue's VENUE_FEED_<VENUE> setting, sim unless set)",
        )
        parser.add_argument(
            "--mean-interval-ms",
            type=float,
            default=None,
            help="mean time between book updates per symbol (default: the venue's realistic rate)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        venues = list(dict.fromkeys(options["venue"]))
        is_sandbox = not options["live"]
        if not is_sandbox:
            # A live edge sends the clients' live orders with their own credentials (the venue's
            # order half) and quotes the venue's real market: never simulated prices.
            no_orders = [v for v in venues if v not in ORDER_CLIENTS]
            if no_orders:
                raise CommandError(
                    f"No live order client for {', '.join(no_orders)} in this build (live venues: "
                    f"{', '.join(sorted(ORDER_CLIENTS)) or 'none'}). Use --sandbox."
                )
            off = [v for v in venues if v not in settings.LIVE_TRADING_VENUES]
            if off:
                raise CommandError(
                    f"Live trading is not switched on for {', '.join(off)}: LIVE_TRADING_VENUES is "
                    f"{','.join(settings.LIVE_TRADING_VENUES) or 'empty'} (docs/trading-live.md says "
                    "which venues are tested end to end). Use --sandbox."
                )
            if options["feed"] == "sim":
                raise CommandError("A live edge quotes the venue's own market: --feed sim is for --sandbox.")
        feeds = {
            venue: options["feed"] or (venue_feed_mode(venue) if is_sandbox else "live") for venue in venues
        }
        missing = [v for v, feed in feeds.items() if feed == "live" and v not in BUILDERS]
        if missing:
            raise CommandError(
                f"No live feed for {', '.join(missing)} in this build (live feeds: "
                f"{', '.join(sorted(BUILDERS)) or 'none'}). Use --feed sim."
            )
        try:
            workers = [
                EdgeWorker(
                    venue=venue,
                    is_sandbox=is_sandbox,
                    seed=options["seed"],
                    mean_interval_ms=options["mean_interval_ms"],
                    record_market_data=options["record"],
                    feed=feeds[venue],
                )
                for venue in venues
            ]
        except (OSError, RestError, ValueError) as exc:
            raise CommandError(f"could not start a live feed: {exc}") from exc
        runner = EdgeRunner(workers)
        runner.install_signal_handlers()
        # Django, the catalogue and the workers' setup live as long as the process: out of the
        # collector's reach, so a collection in the middle of a market-data burst walks only what the
        # edge made since (as the backtest worker does, backtests/tasks.py).
        gc.freeze()
        runner.run()
