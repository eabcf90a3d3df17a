"""Data migrations of backtests: stored results of older jobs read like new ones."""

from __future__ import annotations

import importlib
import json

from edges.replay import results_json

hyphen_symbols = importlib.import_module("backtests.migrations.0003_hyphen_symbols")


def test_old_results_and_errors_get_hyphen_symbols():
    old = results_json({
        "metrics": {"fill_count": 1},
        "trades": [{"symbol": "ETH/USD", "price": 3400.0}],
        "traces": [{"symbol": "BTC/USDC", "callback_type": "on_book"}],
        "logs": [{"symbol": "ETH/USD", "message": "BUY FILL: order=1 qty=1 @$3400"}],
        "summary": {"symbols": ["ETH/USD", "BTC/USDC"], "positions": {"ETH/USD": 0.5, "BTC/USDC": 0.0}},
    })  # fmt: skip
    new = hyphen_symbols.hyphenate_results(old)
    data = json.loads(new)
    assert [t["symbol"] for t in data["trades"] + data["traces"] + data["logs"]] == [
        "ETH-USD",
        "BTC-USDC",
        "ETH-USD",
    ]
    assert data["summary"] == {
        "symbols": ["ETH-USD", "BTC-USDC"],
        "positions": {"ETH-USD": 0.5, "BTC-USDC": 0.0},
    }
    assert data["logs"][0]["message"] == "BUY FILL: order=1 qty=1 @$3400"  # only symbols change
    assert new == results_json(data)  # still canonical
    assert hyphen_symbols.hyphenate_results(new) is new  # already hyphenated: untouched
    assert (
        hyphen_symbols.hyphenate_error("algo trapped at event 3 (ETH/USD): unreachable at 1/2")
        == "algo trapped at event 3 (ETH-USD): unreachable at 1/2"
    )
