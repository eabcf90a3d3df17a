from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from sequence_site import services
from sequence_site.models import ApiKey, Mode

DEMO_CLIENT = "demo"
SEED_KEY_NAME = "seed_dev"


class Command(BaseCommand):
    help = "Development data: a demo login, a demo client, one sandbox and one live key (printed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and os.environ.get("SEQUENCE_ALLOW_SEED") != "1":
            self.stderr.write(
                "seed_dev makes a demo login with a known password: it runs with DEBUG=true only."
            )
            return
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=options["username"])
        if created:
            user.set_password(options["password"])
            user.save()
        client = services.client_get_or_create(name=DEMO_CLIENT)
        services.client_add_member(client=client, user=user)

        # Clear keys are never stored in the database. For a development machine only, the demo
        # keys are kept in var/demo-keys.env (mode 0600) so each `make run` can print the same ones.
        keys_file = Path(settings.VAR_DIR) / "demo-keys.env"
        known = _read_keys(keys_file)
        keys: dict[str, str] = {}
        for mode in (Mode.SANDBOX, Mode.LIVE):
            plaintext = known.get(mode.value)
            if plaintext and _still_valid(plaintext):
                keys[mode.value] = plaintext
                continue
            ApiKey.objects.filter(client=client, is_sandbox=mode.is_sandbox, name=SEED_KEY_NAME).delete()
            keys[mode.value] = services.api_key_create(client=client, mode=mode, name=SEED_KEY_NAME).plaintext
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        keys_file.touch(mode=0o600)
        keys_file.write_text("".join(f"{mode}={key}\n" for mode, key in keys.items()))

        self.stdout.write(self.style.SUCCESS("Demo data ready:"))
        self.stdout.write(
            f"  dashboard login : {options['username']} / {options['password'] if created else '(unchanged)'}"
        )
        self.stdout.write(f"  client          : {client.name} ({client.short_code})")
        self.stdout.write(f"  sandbox API key : {keys['test']}")
        self.stdout.write(f"  live API key    : {keys['live']}")


def _read_keys(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {mode: key for mode, key in pairs}


def _still_valid(plaintext: str) -> bool:
    try:
        services.api_key_authenticate(token=plaintext)
    except Exception:
        return False
    return True
