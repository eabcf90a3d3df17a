"""`manage.py strategy_sandbox`: build the Python 3.12 image and check that sandboxed runs can start
here (bwrap, user namespaces, the image). Exits non-zero with the reason when they can't; `make run`
and `make test` call it. With SEQUENCE_STRATEGY_SANDBOX=none it says so and succeeds."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from strategies.runner.sandbox import cgroup_version
from strategies.sandboxing import sandbox_config


class Command(BaseCommand):
    help = "Build the strategy sandbox's Python 3.12 image and check the sandbox works on this host."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        if settings.SEQUENCE_STRATEGY_SANDBOX == "none":
            self.stdout.write("strategy sandbox: OFF (SEQUENCE_STRATEGY_SANDBOX=none): local development only")
            return
        config, problem = sandbox_config(build=True)
        if config is None:
            raise CommandError(f"strategy sandbox unavailable: {problem}")
        version = cgroup_version()
        limits = f"cgroup v{version}" if version else "no cgroups (per-process rlimits only)"
        self.stdout.write(f"strategy sandbox: bwrap {config.bwrap}, image {config.rootfs}, {limits}")
