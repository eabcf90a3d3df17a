"""The Coinbase level2 protocol (venues.coinbase.feed) driven frame by frame, without I/O, on the
captured messages (tests/fakevenues/fixtures/coinbase/ws_messages.json) and on variations of them."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from tests.fakevenues.coinbase import fixture
from venues.coinbase.feed import CoinbaseFeed, parse_decimal
from venues.coinbase.products import market_data_product, product_id, symbol_for_product
from venues.instruments import to_price_1e9, to_qty_1e8
from venues.live.protocol import BookChanged, Reconnect, Resync, Send

WS = fixture("ws_messages.json")
T0 = 1_700_000_000_000_000_000


def frame(name: str, seq: int | None = None, **changes: Any) -> str:
    msg = copy.deepcopy(WS[name])
    if seq is not None:
        msg["sequence_num"] = seq
    msg.update(changes)
    return orjson.dumps(msg).decode()


def l2(seq: int, kind: str, product: str, updates: list[tuple[str, str, str]]) -> str:
    return orjson.dumps(
        {
            "channel": "l2_data",
            "client_id": "",
            "timestamp": "2026-04-07T14:30:01.456789123Z",
            "sequence_num": seq,
            "events": [
                {
                    "type": kind,
                    "product_id": product,
                    "updates": [
                        {"side": s, "event_time": "1970-01-01T00:00:00Z", "price_level": p, "new_quantity": q}
                        for s, p, q in updates
                    ],
                }
            ],
        }
    ).decode()


def heartbeat(seq: int, counter: int = 1) -> str:
    return frame("heartbeats", seq, events=[{"current_time": "opaque", "heartbeat_counter": counter}])


def P(text: str) -> int:
    return to_price_1e9(text)


def Q(text: str) -> int:
    return to_qty_1e8(text)


def opened(symbols=("BTC/USD",), **kw) -> CoinbaseFeed:
    feed = CoinbaseFeed(symbols, ws_url="ws://127.0.0.1:1/", **kw)
    feed.on_open()
    return feed


def books(events) -> dict[str, Any]:
    return {e.symbol: e.snapshot for e in events if isinstance(e, BookChanged)}


def sends(events) -> list[dict[str, Any]]:
    return [orjson.loads(e.frame) for e in events if isinstance(e, Send)]


# -- subscribing -----------------------------------------------------------------------------------


def test_on_open_sends_the_documented_subscribe_messages() -> None:
    feed = CoinbaseFeed(["BTC/USD", "eth-usd"], ws_url="ws://x/")
    frames = [orjson.loads(f) for f in feed.on_open()]
    assert frames == [
        {"type": "subscribe", "product_ids": [], "channel": "heartbeats"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
    ]
    # exactly the field set of the documented request shapes (one channel string, no `channels`)
    documented = WS["subscribe_requests"]
    assert frames[0] == documented[1]
    assert set(frames[1]) == set(documented[0]) and frames[1]["channel"] == documented[0]["channel"]


def test_symbols_map_to_product_ids_and_back() -> None:
    assert product_id("BTC/USD") == "BTC-USD" and product_id("xrp-usd") == "XRP-USD"
    assert symbol_for_product("ETH-USDC") == "ETH/USDC"
    # -USDC market data is the -USD product's (docs' WebSocket Channels page), except two pairs
    assert market_data_product("BTC/USDC") == "BTC-USD"
    assert market_data_product("USDT/USDC") == "USDT-USDC" and market_data_product("EURC/USDC") == "EURC-USDC"
    with pytest.raises(ValueError):
        product_id("KXBTC-26DEC31-B100K")
    with pytest.raises(ValueError):
        CoinbaseFeed(["not a symbol"], ws_url="ws://x/")


def test_usdc_symbol_follows_the_usd_book_under_its_own_name() -> None:
    feed = CoinbaseFeed(["BTC/USD", "BTC/USDC"], ws_url="ws://x/")
    level2 = orjson.loads(feed.on_open()[1])
    assert level2["product_ids"] == ["BTC-USD"]  # one book, one subscription
    out = books(feed.on_frame(frame("l2_data_snapshot"), T0))
    assert set(out) == {"BTC/USD", "BTC/USDC"} and out["BTC/USD"] == out["BTC/USDC"]
    # data labelled with the -USDC id (if the venue ever does) lands in the same book
    out = books(feed.on_frame(l2(1, "update", "BTC-USDC", [("bid", "68900.00", "9")]), T0 + 1))
    assert out["BTC/USDC"].bid_qty == Q("9") and out["BTC/USD"].bid_qty == Q("9")


def test_catalogue_aliases_override_the_rule() -> None:
    feed = CoinbaseFeed(["ETH/USDC"], ws_url="ws://x/", aliases={"ETH/USDC": "ETH-USDC"})
    assert orjson.loads(feed.on_open()[1])["product_ids"] == ["ETH-USDC"]


# -- the captures ----------------------------------------------------------------------------------


def test_captured_snapshot_then_update_give_the_right_book_exactly() -> None:
    feed = opened()
    out = feed.on_frame(frame("l2_data_snapshot"), T0)
    snap = books(out)["BTC/USD"]
    assert snap.ts_ns == T0
    assert snap.bids == (
        (P("68900.00"), Q("1.50000000")),
        (P("68899.50"), Q("0.75000000")),
        (P("68899.00"), Q("2.30000000")),
    )
    assert snap.asks == (
        (P("68901.00"), Q("0.50000000")),
        (P("68901.50"), Q("1.20000000")),
        (P("68902.00"), Q("0.80000000")),
    )
    # the update sets the bid size (not a delta) and removes the offer with "0.00000000"
    snap = books(feed.on_frame(frame("l2_data_update"), T0 + 5))["BTC/USD"]
    assert snap.best_bid == (P("68900.00"), Q("2.00000000"))
    assert snap.best_ask == (P("68901.50"), Q("1.20000000"))
    assert len(snap.asks) == 2 and snap.ts_ns == T0 + 5
    assert feed.ready() == {"BTC-USD"}


def test_precision_is_kept_to_the_last_unit() -> None:
    feed = opened()
    feed.on_frame(
        l2(
            0,
            "snapshot",
            "BTC-USD",
            [("bid", "0.000000001", "0.00000001"), ("offer", "1", "123456789.12345678")],
        ),
        T0,
    )
    snap = books(feed.on_frame(l2(1, "update", "BTC-USD", [("bid", "0.000000002", "5.000000000000")]), T0))[
        "BTC/USD"
    ]
    assert snap.bids == ((2, 5 * 10**8), (1, 1))
    assert snap.asks == ((10**9, 12345678912345678),)
    assert parse_decimal("68925.98", 9) == 68925980000000


@pytest.mark.parametrize("bad", ["1.0000000001", "1e-5", "-1", " 1", "1.", ".5", "0x10", "١", 1.5, None, [1]])
def test_parse_decimal_refuses_what_it_cannot_hold_exactly(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_decimal(bad, 9)


def test_subscriptions_ack_and_unknown_messages_are_ignored_in_either_order() -> None:
    feed = opened()
    assert feed.on_frame(frame("l2_data_snapshot", 0), T0)  # the snapshot first...
    assert feed.on_frame(frame("subscriptions_ack", 1), T0) == []  # ...then the ack
    assert feed.on_frame(frame("subscriptions_ack", 2, channel="ticker"), T0) == []
    assert feed.on_frame('{"type":"something_new"}', T0) == []
    feed = opened()
    assert feed.on_frame(frame("subscriptions_ack", 0), T0) == []  # the ack first
    assert books(feed.on_frame(frame("l2_data_snapshot", 1), T0))


def test_updates_before_the_snapshot_and_for_other_products_are_skipped() -> None:
    feed = opened()
    assert feed.on_frame(l2(0, "update", "BTC-USD", [("bid", "1", "1")]), T0) == []
    assert feed.on_frame(l2(1, "snapshot", "ETH-USD", [("bid", "1", "1")]), T0) == []
    assert books(feed.on_frame(frame("l2_data_snapshot", 2), T0))["BTC/USD"].bid_px == P("68900")


# -- gaps, bad input, crossed books ------------------------------------------------------------------


def test_a_sequence_gap_resubscribes_every_book() -> None:
    feed = opened(("BTC/USD", "ETH/USD"))
    feed.on_frame(frame("l2_data_snapshot", 0), T0)
    feed.on_frame(l2(1, "snapshot", "ETH-USD", [("bid", "3000", "1"), ("offer", "3001", "1")]), T0)
    out = feed.on_frame(heartbeat(3), T0)  # 2 is missing: any book may have lost an update
    assert [e for e in out if isinstance(e, Resync)] == [Resync("gap", ("BTC/USD", "ETH/USD"))]
    assert sends(out) == [
        {"type": "unsubscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
    ]
    assert feed.ready() == set() and feed.gaps == 1
    # updates still in flight for the dropped books are not applied; the fresh snapshot is
    assert feed.on_frame(l2(4, "update", "BTC-USD", [("bid", "68900.00", "7")]), T0) == []
    snap = books(
        feed.on_frame(l2(5, "snapshot", "BTC-USD", [("bid", "68000", "2"), ("offer", "68001", "3")]), T0)
    )
    assert snap["BTC/USD"].bids == ((P("68000"), Q("2")),) and feed.ready() == {"BTC-USD"}


def test_a_lower_sequence_number_is_ignored() -> None:
    feed = opened()
    feed.on_frame(frame("l2_data_snapshot", 5), T0)
    assert feed.on_frame(l2(3, "update", "BTC-USD", [("bid", "68900.00", "7")]), T0) == []
    assert books(feed.on_frame(l2(6, "update", "BTC-USD", [("bid", "68900.00", "8")]), T0))[
        "BTC/USD"
    ].bid_qty == Q("8")


@pytest.mark.parametrize("garbage", ["{not json", b"\xff\xfe", "[1, 2]", "42", '{"channel": "l2_data"}'])
def test_an_unreadable_frame_resyncs_every_book_without_raising(garbage: Any) -> None:
    feed = opened()
    feed.on_frame(frame("l2_data_snapshot", 0), T0)
    out = feed.on_frame(garbage, T0)
    assert Resync("malformed", ("BTC/USD",)) in out
    assert sends(out)[-1] == {"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level2"}
    # the next frame's number is the new base: no second resync for the same loss
    assert books(feed.on_frame(frame("l2_data_snapshot", 9), T0))


@pytest.mark.parametrize(
    "update",
    [
        {"side": "ask", "price_level": "68900.00", "new_quantity": "1"},  # the word is "offer"
        {"side": "bid", "price_level": "68900.0000000001", "new_quantity": "1"},
        {"side": "bid", "price_level": 68900.0, "new_quantity": "1"},
        {"side": "bid", "price_level": "68900.00"},
        {"side": "bid", "price_level": ["68900"], "new_quantity": "1"},
        "bid 68900 1",
    ],
)
def test_an_unreadable_update_resyncs_its_product_only(update: Any) -> None:
    feed = opened(("BTC/USD", "ETH/USD"))
    feed.on_frame(frame("l2_data_snapshot", 0), T0)
    feed.on_frame(l2(1, "snapshot", "ETH-USD", [("bid", "3000", "1"), ("offer", "3001", "1")]), T0)
    msg = orjson.loads(l2(2, "update", "BTC-USD", []))
    msg["events"][0]["updates"] = [update]
    out = feed.on_frame(orjson.dumps(msg), T0)
    assert [e for e in out if isinstance(e, Resync)] == [Resync("malformed", ("BTC/USD",))]
    assert sends(out)[-1]["product_ids"] == ["BTC-USD"]
    assert feed.ready() == {"ETH-USD"}


def test_events_that_are_not_objects_or_lists_resync() -> None:
    feed = opened()
    feed.on_frame(frame("l2_data_snapshot", 0), T0)
    assert Resync("malformed", ("BTC/USD",)) in feed.on_frame(frame("l2_data_update", 1, events="x"), T0)
    feed = opened()
    feed.on_frame(frame("l2_data_snapshot", 0), T0)
    assert Resync("malformed", ("BTC/USD",)) in feed.on_frame(frame("l2_data_update", 1, events=[7]), T0)
    # an event whose product id is not a string is not ours
    feed = opened()
    feed.on_frame(frame("l2_data_snapshot", 0), T0)
    bad = orjson.loads(frame("l2_data_update", 1))
    bad["events"][0]["product_id"] = ["BTC-USD"]
    assert feed.on_frame(orjson.dumps(bad), T0) == []


def test_a_crossed_book_is_resynced() -> None:
    feed = opened()
    feed.on_frame(frame("l2_data_snapshot", 0), T0)
    out = feed.on_frame(l2(1, "update", "BTC-USD", [("bid", "68901.50", "1")]), T0)
    assert not books(out)
    assert Resync("crossed", ("BTC/USD",)) in out and feed.ready() == set()


def test_resyncing_the_same_book_over_and_over_gives_up_on_the_connection() -> None:
    feed = opened()
    crossed = [("bid", "2", "1"), ("offer", "1", "1")]
    reasons = []
    for seq in range(4):
        out = feed.on_frame(l2(seq, "snapshot", "BTC-USD", crossed), T0)
        reasons.append([type(e).__name__ for e in out])
    assert reasons[:3] == [["Resync", "Send", "Send"]] * 3
    assert reasons[3] == ["Resync", "Reconnect"] and out[-1] == Reconnect("resync_failed_crossed")
    # a good book in between starts the count again
    feed = opened()
    for seq in range(0, 12, 2):
        assert Reconnect not in map(type, feed.on_frame(l2(seq, "snapshot", "BTC-USD", crossed), T0))
        assert books(feed.on_frame(l2(seq + 1, "snapshot", "BTC-USD", [("bid", "1", "1")]), T0))


def test_a_venue_error_reconnects_and_is_kept() -> None:
    feed = opened()
    out = feed.on_frame(frame("error_authentication_failure"), T0)
    assert out == [Reconnect("venue_error")] and feed.last_error == "authentication failure"


def test_heartbeats_confirm_quiet_books_only_after_a_while() -> None:
    feed = opened()
    feed.on_frame(frame("l2_data_snapshot", 0), T0)
    assert feed.on_frame(heartbeat(1, 41), T0 + 1_000_000_000) == []
    assert feed.heartbeat_counter == 41
    later = T0 + int(feed.confirm_after_s * 1e9) + 1
    out = books(feed.on_frame(heartbeat(2, 42), later))
    assert out["BTC/USD"].ts_ns == later and out["BTC/USD"].bid_px == P("68900")
    assert feed.on_frame(heartbeat(3, 43), later + 1) == []


def test_on_open_starts_from_scratch() -> None:
    feed = opened()
    feed.on_frame(frame("l2_data_snapshot", 7), T0)
    feed.symbols = ("ETH/USD", "bogus symbol")
    frames = [orjson.loads(f) for f in feed.on_open()]
    assert frames[1]["product_ids"] == ["ETH-USD"] and feed.skipped_symbols == ("bogus symbol",)
    assert feed.ready() == set()
    # numbering restarts with the new connection (0 after 7 is not "lower than expected")
    assert books(feed.on_frame(l2(0, "snapshot", "ETH-USD", [("bid", "1", "1")]), T0))


# -- books once per read (defer_books, what the feed loop sets for the edge) ------------------------


def test_deferred_books_are_built_once_per_read_and_never_after_a_resync() -> None:
    eager, lazy = opened(), opened()
    lazy.defer_books = True
    snap = l2(0, "snapshot", "BTC-USD", [("bid", "100.00", "1"), ("offer", "101.00", "2")])
    updates = [l2(i, "update", "BTC-USD", [("bid", "100.00", str(i + 1))]) for i in range(1, 6)]
    for f in (snap, *updates):
        last = books(eager.on_frame(f, T0))
        assert last, "the eager protocol emits every state"
        assert not books(lazy.on_frame(f, T0)), "the deferring one waits for the end of the read"
    out = books(lazy.end_of_read(T0 + 5))
    assert list(out) == ["BTC/USD"] and out["BTC/USD"].ts_ns == T0 + 5
    assert out["BTC/USD"].bids == last["BTC/USD"].bids == ((P("100.00"), Q("6")),)
    assert out["BTC/USD"].asks == last["BTC/USD"].asks
    assert lazy.end_of_read(T0 + 6) == []  # nothing changed since
    # a change then a gap in the same read: the dropped book is not emitted at the end of it
    lazy.on_frame(l2(6, "update", "BTC-USD", [("bid", "100.00", "9")]), T0 + 7)
    events = lazy.on_frame(l2(8, "update", "BTC-USD", [("bid", "100.00", "8")]), T0 + 7)
    assert any(isinstance(e, Resync) and e.reason == "gap" for e in events)
    assert lazy.end_of_read(T0 + 7) == []
