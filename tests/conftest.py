"""Shared fixtures: clients `owner` and `stranger`, their keys, and an API caller.

Tests run against the machine's real PostgreSQL and Redis (`make test` points DATABASE_URL and
REDIS_URL at them); nothing here swaps in SQLite, eager Celery or an in-memory channel layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from channels.layers import channel_layers
from django.conf import settings
from django.test import Client as HttpClient

from sequence_site import services
from sequence_site.models import Client, Mode
from sequence_site.services import CreatedKey
from tests.waiting import raise_library_ceilings, watched_tails


def pytest_configure(config: pytest.Config) -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        raise pytest.UsageError(
            f"Tests run against PostgreSQL, not {engine}: use `make test` or set DATABASE_URL=postgres://..."
        )
    raise_library_ceilings()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A failing test's report shows the tail of every process log its fixtures watch
    (tests/waiting.py): what the edge, worker or server was doing when the test gave up."""
    report = yield
    if report.failed:
        for name, tail in watched_tails():
            report.sections.append((f"tail of {name}", tail))
    return report


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    """Each test gets its own channel-layer object (on the same real Redis). A test's event loop can
    end while one of its consumers still waits in the layer's receive(): channels_redis then keeps
    that receive counted, with its lock bound to the dead loop, and every later test's consumer on
    the same object fails with "... is bound to a different event loop" (seen once, on a loaded
    machine, in tests/strategies/test_log_consumer.py). A server has one loop for its life; a test
    process has one per test."""
    yield
    channel_layers.backends.clear()


@dataclass
class ApiCaller:
    """Calls /v1 with an optional bearer key and returns (status, json body)."""

    http: HttpClient
    key: str | None = None

    def request(self, method: str, path: str, *, json: Any = None, key: str | None = None, **extra: Any):
        headers = dict(extra.pop("headers", {}))
        token = key if key is not None else self.key
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        kwargs: dict[str, Any] = {"headers": headers, **extra}
        if json is not None:
            kwargs["data"] = json
            kwargs["content_type"] = "application/json"
        response = getattr(self.http, method.lower())(path, **kwargs)
        body = response.json() if response.get("Content-Type", "").startswith("application/json") else None
        return response.status_code, body

    def get(self, path: str, **kwargs: Any):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any):
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def owner(db) -> Client:
    return services.client_get_or_create(name="Owner Capital")


@pytest.fixture
def stranger(db) -> Client:
    return services.client_get_or_create(name="Stranger Trading")


@pytest.fixture
def sandbox_key(owner: Client) -> CreatedKey:
    return services.api_key_create(client=owner, mode=Mode.SANDBOX, name="owner sandbox")


@pytest.fixture
def live_key(owner: Client) -> CreatedKey:
    return services.api_key_create(client=owner, mode=Mode.LIVE, name="owner live")


@pytest.fixture
def stranger_sandbox_key(stranger: Client) -> CreatedKey:
    return services.api_key_create(client=stranger, mode=Mode.SANDBOX, name="stranger sandbox")


@pytest.fixture
def api(client: HttpClient, sandbox_key: CreatedKey) -> ApiCaller:
    """An API caller authenticated with the owner's sandbox key (override per call with key=...)."""
    return ApiCaller(http=client, key=sandbox_key.plaintext)


@pytest.fixture
def anon_api(client: HttpClient) -> ApiCaller:
    return ApiCaller(http=client)


@pytest.fixture
def strategy_run_dir():
    """A STRATEGY_RUN_DIR the sandbox's uids can traverse: pytest's tmp_path sits under a 0700
    folder (/tmp/pytest-of-root), which a run's own uid could not pass to reach its workspace."""
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="sequence-runs-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
