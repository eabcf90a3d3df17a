"""A live (fake Kraken) session recorded by the sandbox edge, then backtested: the backtest over the
recording reproduces the edge's paper fills exactly (order ids, sides, prices, quantities, maker or
taker, fees and event times).

The edge (a real `run_edge --record` process on the live feed) records what its algos receive into
the market-data store; the backtest is a real job on a real Celery worker reading that store, with
the venue's live rules (the synced catalogue) and the edge's seed (the default on both sides), so
the fill-at-touch draws come out the same.

The algo quotes both sides at the touch on every book once it is armed. It is armed by a marked
book the test sends after the algo is running: a backtest replays the whole recorded day, including
the books the edge received before the algo was deployed (a deployment needs a connected edge), and
an algo that did nothing on those books starts from the same state in both runs.
"""

from __future__ import annotations

import base64
import re
from datetime import date

import pytest

from algo_studio.models import AlgoLog, Deployment, DeploymentEdge
from edges.catalogue import sync_catalogue
from tests.celery_worker import purge, running_worker
from tests.edges.conftest import EdgeProcess, wat
from tests.fakevenues.kraken import KrakenFake
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

MARK_QTY = "7.77777777"  # the best bid's size that arms the algo
QTY_1E8 = 100_000  # 0.001 BTC per order: over Kraken's ordermin and costmin


def quoting_algo() -> bytes:
    """Once a book's best bid size is MARK_QTY: on every book, cancel everything, bid at the best
    bid and, when long, offer at the best ask (QTY_1E8 each). Fills come from the touch draws and
    from the market moving through the quotes."""
    mark = 777_777_777
    return wat(f"""
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (import "seq" "cancel_all" (func $cancel_all))
      (import "seq" "position_1e8" (func $position (result i64)))
      (memory (export "memory") 1)
      (global $armed (mut i32) (i32.const 0))
      (func (export "on_book") (param $bp i64) (param $bq i64) (param $ap i64) (param $aq i64) (param $ts i64)
        (if (i32.eqz (global.get $armed))
          (then
            (if (i64.ne (local.get $bq) (i64.const {mark})) (then return))
            (global.set $armed (i32.const 1))))
        (call $cancel_all)
        (if (i64.gt_s (local.get $bp) (i64.const 0))
          (then (drop (call $place (i32.const 0) (local.get $bp) (i64.const {QTY_1E8})))))
        (if (i32.and (i64.gt_s (local.get $ap) (i64.const 0)) (i64.gt_s (call $position) (i64.const 0)))
          (then (drop (call $place (i32.const 1) (local.get $ap) (i64.const {QTY_1E8})))))))
    """)


class RecordingKrakenEdge(EdgeProcess):
    """A sandbox edge on the fake Kraken's live feed that records what it receives."""

    def __init__(self, fake: KrakenFake) -> None:
        super().__init__(["kraken"])
        self.fake = fake

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            VENUE_FEED_KRAKEN="live",
            VENUE_FEED_KRAKEN_WS_URL=self.fake.ws_url,
            VENUE_FEED_KRAKEN_REST_URL=self.fake.url,
            EDGE_RECORD_MARKET_DATA="true",
        )
        return env


@pytest.fixture
def fake():
    with KrakenFake(heartbeat_s=0.2) as srv:
        yield srv


FILL_LINE = re.compile(
    r"^(BUY|SELL) FILL: order=(\d+) qty=(\d+) @\$([0-9.]+) (maker|taker) fee=(-?[0-9.]+) pos=(-?\d+)$"
)


def edge_fills(deployment: Deployment) -> list[tuple]:
    """(ts_ns, order_id, side, price_1e9, qty_1e8, liquidity, fee) of every fill the edge logged."""
    out = []
    for ts, message in (
        AlgoLog.objects.filter(deployment=deployment, message__contains=" FILL: ")
        .order_by("id")
        .values_list("ts_ns", "message")
    ):
        m = FILL_LINE.match(message)
        assert m, message
        side, oid, qty, px, liquidity, fee, _pos = m.groups()
        out.append((ts, int(oid), side.lower(), _e9(px), int(qty), liquidity, _e9(fee)))
    return out


def _e9(text: str) -> int:
    whole, _, frac = text.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole or "0")) * 10**9 + int((frac + "0" * 9)[:9]))


def test_a_backtest_over_a_recorded_live_session_reproduces_the_paper_fills(
    transactional_db, api, fake, settings
):
    edge = RecordingKrakenEdge(fake).start()
    try:
        wait_until(lambda: fake.subscribed("BTC/USD") == 1, timeout=30, what="the subscribe")
        status, body = api.post(
            "/v1/deployments",
            json={
                "symbols": ["BTC-USD"],
                "name": "recorded quoting",
                "wasm_base64": base64.b64encode(quoting_algo()).decode(),
                "venue": "kraken",
                "start_immediately": True,
            },
        )
        assert status == 201, body
        deployment = Deployment.objects.get(pk=body["deployment_id"].removeprefix("dep_"))

        def row() -> DeploymentEdge:
            return DeploymentEdge.objects.get(deployment=deployment, removed=False)

        def changed() -> None:  # one more book: the best ask's size moves
            _, asks = fake.pairs["BTC/USD"].top(1)
            px, qty = asks[0]
            fake.update("BTC/USD", asks=[(str(px), str(qty + 1))])

        def running_and_seen() -> bool:
            changed()
            r = row()
            return r.status == "running" and r.update_count >= 1

        wait_until(running_and_seen, timeout=60, what=f"the algo to see a live book ({edge.output()})")
        bids, _ = fake.pairs["BTC/USD"].top(1)
        fake.update("BTC/USD", bids=[(str(bids[0][0]), MARK_QTY)])  # arms the algo

        def trading() -> bool:  # the captured session, then nudges, until both sides have filled
            if not fake.play_capture(5):
                changed()
            sides = {f[2] for f in edge_fills(deployment)}
            return len(edge_fills(deployment)) >= 6 and sides == {"buy", "sell"}

        wait_until(trading, timeout=120, what=f"fills on both sides ({edge.output()})")
    finally:
        assert edge.stop() == 0  # SIGTERM: the edge writes what it recorded and its last logs
    live = edge_fills(deployment)
    assert any(f[5] == "maker" for f in live)

    recorded = sorted(edge.market_data_dir.glob("kraken/BTC-USD/*/rec-*.parquet"))
    assert recorded, "the edge recorded nothing"
    days = sorted(date.fromisoformat(p.parent.name) for p in recorded)

    # The backtest: the venue's live rules (synced catalogue), the recorded store, a real worker.
    settings.VENUE_FEED_KRAKEN = "live"
    settings.VENUE_FEED_KRAKEN_REST_URL = fake.url
    settings.MARKET_DATA_DIR = edge.market_data_dir
    assert sync_catalogue("kraken") == 3
    purge(["backtests"])
    with running_worker(queues=["backtests"], pool="solo"):
        status, body = api.post(
            "/v1/backtest",
            json={
                "deployment_id": deployment.deployment_id,
                "start_date": days[0].isoformat(),
                "end_date": days[-1].isoformat(),
            },
        )
        assert status == 200, body
        job_id = body["job_id"]
        final = wait_until(
            lambda: (b := api.get(f"/v1/backtest/{job_id}")[1])["status"] in ("completed", "failed") and b,
            timeout=120,
            what="the backtest",
        )
    assert final["status"] == "completed", final
    status, results = api.get(f"/v1/backtest/{job_id}/results")
    assert status == 200, results
    assert results["summary"]["data_days"] == {"recorded": len(days), "simulated": 0}
    replayed = [
        (
            t["ts_ns"],
            t["order_id"],
            t["side"],
            round(t["price"] * 10**9),
            round(t["qty"] * 10**8),
            t["liquidity"],
            round(t["fee"] * 10**9),
        )
        for t in results["trades"]
    ]
    assert replayed == live
