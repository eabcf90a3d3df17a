"""The shared REST client (retries on 429/5xx, the venue's error body otherwise) and the registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp import web

from tests.fakevenues.base import FakeVenueServer
from venues.live import factory
from venues.live.factory import FeedConfig, build_protocol
from venues.live.rest import RestClient, RestError

from .toyfeed import ToyProtocol


class PairsServer(FakeVenueServer):
    def routes(self, app: web.Application) -> None:
        async def pairs(request: web.Request) -> web.Response:
            return web.json_response({"pairs": ["AAA"], "q": request.query.get("q")})

        async def missing(request: web.Request) -> web.Response:
            return web.json_response({"error": ["EGeneral:Unknown method"]}, status=404)

        app.router.add_get("/pairs", pairs)
        app.router.add_get("/missing", missing)


@pytest.fixture
def server() -> Iterator[PairsServer]:
    with PairsServer() as srv:
        yield srv  # type: ignore[misc]


def test_get_json_and_query(server: PairsServer) -> None:
    client = RestClient(server.url)
    assert client.get_json("/pairs", {"q": "x y", "skip": None}) == {"pairs": ["AAA"], "q": "x y"}
    assert server.http_requests[-1] == ("GET", "/pairs?q=x+y")


def test_429_is_retried_after_retry_after(server: PairsServer) -> None:
    slept: list[float] = []
    client = RestClient(server.url, sleep=slept.append)
    server.fail_http(2, 429)
    assert client.get_json("/pairs")["pairs"] == ["AAA"]
    assert slept == [1.0, 1.0] and client.retries == 2
    assert len(server.http_requests) == 3


def test_gives_up_after_max_retries_and_keeps_the_venue_error(server: PairsServer) -> None:
    client = RestClient(server.url, max_retries=1, sleep=lambda s: None)
    server.fail_http(3, 503)
    with pytest.raises(RestError) as err:
        client.get_json("/pairs")
    assert err.value.status == 503 and len(server.http_requests) == 2
    with pytest.raises(RestError) as err:
        RestClient(server.url).get_json("/missing")
    assert err.value.status == 404 and "EGeneral:Unknown method" in err.value.body


def test_refuses_non_http_urls() -> None:
    with pytest.raises(ValueError):
        RestClient("file:///etc/passwd")


def test_registry_builds_with_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(factory.BUILDERS, "toy", lambda symbols, cfg: ToyProtocol(symbols, ws_url=cfg.ws_url))
    proto = build_protocol("toy", ["AAA"], FeedConfig(ws_url="ws://x/ws", silence_s=2.5, stale_after_s=9.0))
    assert isinstance(proto, ToyProtocol) and proto.symbols == ("AAA",) and proto.url() == "ws://x/ws"
    assert proto.silence_s == 2.5 and proto.stale_after_s == 9.0
    assert ToyProtocol.silence_s == 30.0  # the class default is untouched
    assert "toy" in factory.live_venues()
    with pytest.raises(KeyError, match="no live feed for venue 'nowhere'"):
        build_protocol("nowhere", [], FeedConfig(ws_url="ws://x"))
