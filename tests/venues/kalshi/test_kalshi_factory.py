"""Kalshi in the live-feed registry (venues.live.factory) and its settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakevenues.kalshi import KEY_ID, REST, FakeKalshi, private_key_pem
from venues.kalshi.auth import ACCESS_SIGNATURE, KalshiAuthError
from venues.kalshi.feed import KalshiFeed
from venues.live.factory import BUILDERS, CATALOGUES, FeedConfig, build_protocol, live_venues

ROOT = Path(__file__).resolve().parents[3]


def test_kalshi_is_a_live_venue_that_needs_a_key(tmp_path):
    assert "kalshi" in live_venues() and "kalshi" in BUILDERS and "kalshi" in CATALOGUES
    with pytest.raises(KalshiAuthError, match="KALSHI_API_KEY_ID"):
        build_protocol("kalshi", ["FED-23DEC-T3.00-YES"], FeedConfig(ws_url=""))
    key = tmp_path / "k.pem"
    key.write_bytes(private_key_pem())
    proto = build_protocol(
        "kalshi",
        ["FED-23DEC-T3.00-YES"],
        FeedConfig(ws_url="", options={"key_id": KEY_ID, "private_key_path": str(key)}, stale_after_s=120.0),
    )
    assert isinstance(proto, KalshiFeed) and proto.stale_after_s == 120.0
    assert proto.url() == "wss://external-api-ws.kalshi.com/trade-api/ws/v2"  # the real host by default
    assert proto.handshake_headers()[ACCESS_SIGNATURE]
    by_value = build_protocol(
        "kalshi",
        [],
        FeedConfig(
            ws_url="ws://127.0.0.1:9/trade-api/ws/v2",
            options={"key_id": KEY_ID, "private_key_pem": private_key_pem().decode()},
        ),
    )
    assert by_value.url() == "ws://127.0.0.1:9/trade-api/ws/v2"


def test_kalshi_catalogue_from_the_registry():
    with FakeKalshi() as fake:
        instruments = CATALOGUES["kalshi"](FeedConfig(ws_url="", rest_url=fake.url + REST))
    symbols = {i.symbol for i in instruments}
    assert "FED-23DEC-T3.00-YES" in symbols and "FED-23DEC-T3.00-NO" in symbols
    assert "KXSB-26-KC-YES" not in symbols  # finalized: not open


def _settings_with(**env: str) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI_", "VENUE_FEED_KALSHI"))}
    child_env.update(env)
    code = (
        "import sequence_site.settings as s; "
        "print(s.VENUE_FEED_KALSHI, bool(s.VENUE_FEED_KALSHI_OPTIONS['key_id']), s.VENUE_FEED_KALSHI_WS_URL)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=120
    )


def test_settings_default_to_sim_and_refuse_live_without_a_key(tmp_path):
    default = _settings_with()
    assert default.returncode == 0
    assert default.stdout.split() == ["sim", "False", "wss://external-api-ws.kalshi.com/trade-api/ws/v2"]
    missing = _settings_with(VENUE_FEED_KALSHI="live")
    assert missing.returncode != 0 and "KALSHI_API_KEY_ID" in missing.stderr
    wrong = _settings_with(VENUE_FEED_KALSHI="maybe")
    assert wrong.returncode != 0 and "must be sim or live" in wrong.stderr
    key = tmp_path / "k.pem"
    key.write_bytes(private_key_pem())
    live = _settings_with(
        VENUE_FEED_KALSHI="live", KALSHI_API_KEY_ID=KEY_ID, KALSHI_PRIVATE_KEY_PATH=str(key)
    )
    assert live.returncode == 0 and live.stdout.split()[:2] == ["live", "True"]
    assert private_key_pem().decode().splitlines()[1] not in live.stdout + live.stderr


def test_the_edges_feed_config_carries_the_kalshi_key(settings, tmp_path):
    from edges.feeds import venue_feed_config

    key = tmp_path / "k.pem"
    key.write_bytes(private_key_pem())
    settings.VENUE_FEED_KALSHI_OPTIONS = {
        "key_id": KEY_ID,
        "private_key_path": str(key),
        "private_key_pem": "",
    }
    config = venue_feed_config("kalshi")
    proto = build_protocol("kalshi", ["FED-23DEC-T3.00-YES"], config)
    assert proto.url() == settings.VENUE_FEED_KALSHI_WS_URL and proto.handshake_headers()[ACCESS_SIGNATURE]
    settings.VENUE_FEED_KALSHI_OPTIONS = {"key_id": "", "private_key_path": "", "private_key_pem": ""}
    with pytest.raises(KalshiAuthError):
        build_protocol("kalshi", ["FED-23DEC-T3.00-YES"], venue_feed_config("kalshi"))
