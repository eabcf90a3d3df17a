"""manage.py import_market_data FILE --venue V --symbol S: a CSV of book states into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from venues.instruments import get_instrument
from venues.marketdata.importer import ImportError_, parse_csv
from venues.marketdata.store import MarketDataStore


class Command(BaseCommand):
    help = "Import a CSV of book states (see docs/backtests.md for the columns) into the market-data store."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file ('-' is not accepted: the import is by file)")
        parser.add_argument("--venue", required=True, help="kraken or coinbase")
        parser.add_argument("--symbol", required=True, help="e.g. ETH/USD or ETH-USD")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            instrument = get_instrument(options["venue"].strip().lower(), options["symbol"])
        except (KeyError, ValueError) as exc:
            raise CommandError(f"unknown venue/symbol: {exc}") from None
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                table = parse_csv(handle)
        except (ImportError_, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: {exc}") from None
        written = MarketDataStore(settings.MARKET_DATA_DIR).import_table(
            instrument.venue, instrument.symbol, table
        )
        for file in written:
            self.stdout.write(str(file))
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {table.num_rows} events of {instrument.venue} {instrument.symbol} "
                f"into {len(written)} day file(s)."
            )
        )
