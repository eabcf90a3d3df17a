"""`manage.py sync_catalogues [--venue V]`: sync the live venues' catalogues now (edges/catalogue.py),
as the beat task does every VENUE_CATALOGUE_SYNC_SECONDS."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from edges import catalogue
from venues.instruments import VENUES


class Command(BaseCommand):
    help = "Sync the live venues' market catalogues into the database now."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--venue", choices=VENUES, help="only this venue (its feed need not be live)")

    def handle(self, *args, venue: str | None = None, **options) -> None:
        if venue:
            try:
                done: dict[str, int | str] = {venue: catalogue.sync_catalogue(venue)}
            except Exception as exc:  # noqa: BLE001 - said as a clear message and a non-zero exit
                raise CommandError(f"{venue}: {type(exc).__name__}: {exc}") from exc
        else:
            done = catalogue.sync_live_catalogues()
            if not done:
                self.stdout.write("no venue's feed is live (VENUE_FEED_<VENUE>=live): nothing to sync")
        failed = {v: r for v, r in done.items() if isinstance(r, str)}
        for v, r in done.items():
            self.stdout.write(f"{v}: {r if isinstance(r, str) else f'{r} entries'}")
        if failed:
            raise CommandError("some catalogues could not be synced: " + ", ".join(failed))
