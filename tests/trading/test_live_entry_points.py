"""Live-trading entry points that need no venue: a sandbox key is refused everywhere a venue
could be reached, and the kill switch with a sandbox key touches only the sandbox world."""

from __future__ import annotations

from tests.conftest import ApiCaller
from trading.models import RiskLimit, VenueCredential


def test_a_sandbox_key_can_never_connect_list_disconnect_or_set_limits(api: ApiCaller, owner):
    cases = [
        ("POST", "/v1/venues/kraken/connect", {"credentials": {"api_key": "k", "api_secret": "c2VjcmV0"}}),
        ("GET", "/v1/venues", None),
        ("DELETE", "/v1/venues/kraken", None),
        ("GET", "/v1/venues/kraken/limits", None),
        ("PATCH", "/v1/venues/kraken/limits", {"max_open_orders": 1}),
    ]
    for method, path, body in cases:
        status, out = api.request(method, path, json=body)
        assert status == 403 and out["error"] == "live_key_required", (method, path, out)
    assert not VenueCredential.objects.exists() and not RiskLimit.objects.exists()


def test_kill_with_a_sandbox_key_calls_no_venue(api: ApiCaller):
    status, out = api.post("/v1/kill")
    assert status == 200 and out["venues"] == [] and out["graphs_cancelled"] == []


def test_limits_of_a_live_key_default_and_bad_input(client, live_key):
    live = ApiCaller(client, live_key.plaintext)
    status, out = live.get("/v1/venues/kraken/limits")
    assert status == 200 and out["limits"]["max_open_orders"] == 20 and out["custom"] == []
    status, out = live.patch("/v1/venues/kraken/limits", json={"max_open_orders": -1})
    assert status == 400
    status, out = live.patch("/v1/venues/kraken/limits", json={"max_order_notional": "250"})
    assert status == 200 and out["limits"]["max_order_notional"] == "250.00"
    assert out["custom"] == ["max_order_notional"]
