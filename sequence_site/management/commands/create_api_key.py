from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sequence_site import services
from sequence_site.errors import DomainError
from sequence_site.models import Mode


class Command(BaseCommand):
    help = "Create an API key for a client (creating the client if needed) and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--client", required=True, help="Client name; created if it does not exist.")
        parser.add_argument(
            "--mode", required=True, choices=["test", "live"], help="test = sandbox, live = live."
        )
        parser.add_argument("--name", default="", help="A label to tell keys apart.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            client = services.client_get_or_create(name=options["client"])
            created = services.api_key_create(client=client, mode=Mode(options["mode"]), name=options["name"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"Created a {Mode(options['mode']).label.lower()} key for client {client.name!r} "
            f"({client.short_code}). It is shown once; store it now."
        )
        self.stdout.write(created.plaintext)
