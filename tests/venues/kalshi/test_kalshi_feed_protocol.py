"""The Kalshi `orderbook_delta` protocol driven directly with Kalshi's documented messages
(tests/fakevenues/fixtures/kalshi/ws_messages.json): YES/NO derivation, seq gaps, crossed books,
malformed messages and error codes."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import orjson
import pytest

from venues.kalshi.auth import (
    ACCESS_SIGNATURE,
    ACCESS_TIMESTAMP,
    KalshiSigner,
    load_public_key,
    verify_signature,
)
from venues.kalshi.feed import KalshiFeed, mirror_levels, parse_fixed, split_symbol
from venues.live.protocol import BookChanged, Reconnect, Resync, Send

FIXTURES = Path(__file__).resolve().parents[2] / "fakevenues" / "fixtures" / "kalshi"
WS = json.loads((FIXTURES / "ws_messages.json").read_text())
FED = "FED-23DEC-T3.00"
BTC = "KXBTC-25MAR15-B100000"
E9 = 1_000_000_000
E8 = 100_000_000


def px(text: str) -> int:
    return parse_fixed(text, 9)


def qty(text: str) -> int:
    return parse_fixed(text, 8)


def frame(obj) -> bytes:
    return orjson.dumps(obj)


def open_feed(symbols, **kw) -> tuple[KalshiFeed, list[dict]]:
    feed = KalshiFeed(symbols, ws_url="ws://127.0.0.1:1/trade-api/ws/v2", **kw)
    return feed, [json.loads(f) for f in feed.on_open()]


def books(events) -> dict:
    return {e.symbol: e.snapshot for e in events if isinstance(e, BookChanged)}


def sends(events) -> list[dict]:
    return [json.loads(e.frame) for e in events if isinstance(e, Send)]


def subscribed(cmd_id: int, sid: int) -> bytes:
    return frame({"id": cmd_id, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": sid}})


def started(symbols=(f"{FED}-YES", f"{FED}-NO")) -> KalshiFeed:
    """A feed that subscribed FED (sid 2, as the docs' example) and got the docs' snapshot (seq 2)."""
    feed, cmds = open_feed(symbols)
    assert feed.on_frame(subscribed(cmds[0]["id"], 2), 1) == []
    feed.on_frame(frame(WS["orderbook_snapshot"]), 10)
    return feed


def test_symbols_and_fixed_point():
    assert split_symbol("fed-23dec-t3.00-yes") == (FED, "YES")
    assert split_symbol(f"{FED}-NO") == (FED, "NO")
    assert split_symbol(FED) == (FED, None)
    assert parse_fixed("0.0800", 9) == 80_000_000 and parse_fixed("0.960", 9) == 960_000_000
    assert parse_fixed("-54.00", 8) == -54 * E8 and parse_fixed("300", 8) == 300 * E8
    for bad in ("1e-2", " 0.1", "0.1234567891", "", "-", "0.", 0.5, None, "٣"):
        with pytest.raises(ValueError):
            parse_fixed(bad, 9)


def test_subscribe_command_has_the_documented_shape():
    feed, cmds = open_feed([f"{FED}-YES", f"{BTC}-NO", BTC])
    doc = WS["subscribe_single_market"]
    assert [c["cmd"] for c in cmds] == ["subscribe", "subscribe"]  # one per market
    assert cmds[0] == {**doc, "id": cmds[0]["id"], "params": {**doc["params"], "market_ticker": FED}}
    assert cmds[1]["params"]["market_ticker"] == BTC
    assert len({c["id"] for c in cmds}) == 2 and all(c["id"] > 0 for c in cmds)
    assert feed.ping_frame() is not None and json.loads(feed.ping_frame())["cmd"] == "list_subscriptions"


def test_doc_snapshot_gives_both_yes_and_no_books():
    feed, cmds = open_feed([f"{FED}-YES", f"{FED}-NO"])
    feed.on_frame(subscribed(cmds[0]["id"], 2), 1)
    out = books(feed.on_frame(frame(WS["orderbook_snapshot"]), 10))
    yes, no = out[f"{FED}-YES"], out[f"{FED}-NO"]
    # YES: bids are the YES ladder (best 0.22 x 333), asks are 1 - NO bids (1 - 0.56 = 0.44 x 146).
    assert (yes.bid_px, yes.bid_qty, yes.ask_px, yes.ask_qty) == (
        px("0.22"),
        qty("333"),
        px("0.44"),
        qty("146"),
    )
    assert yes.bids == ((px("0.22"), qty("333")), (px("0.08"), qty("300")))
    assert yes.asks == ((px("0.44"), qty("146")), (px("0.46"), qty("20")))
    # NO: bids are the NO ladder (0.56 x 146), asks are 1 - YES bids (1 - 0.22 = 0.78 x 333).
    assert (no.bid_px, no.ask_px) == (px("0.56"), px("0.78"))
    assert no.bids == ((px("0.56"), qty("146")), (px("0.54"), qty("20")))
    assert no.asks == ((px("0.78"), qty("333")), (px("0.92"), qty("300")))
    assert yes.ts_ns == no.ts_ns == 10


def test_nautilus_snapshot_and_delta_match_the_derivation_in_the_notes():
    feed, cmds = open_feed([BTC])  # a bare ticker: both books
    feed.on_frame(subscribed(cmds[0]["id"], 1), 1)
    out = books(feed.on_frame(frame(WS["nautilus_snapshot"]), 5))
    # rest_orderbook.json "derived_from_fixture": yes 0.42/0.44, no 0.56/0.58
    assert (out[f"{BTC}-YES"].bid_px, out[f"{BTC}-YES"].ask_px) == (px("0.42"), px("0.44"))
    assert (out[f"{BTC}-NO"].bid_px, out[f"{BTC}-NO"].ask_px) == (px("0.56"), px("0.58"))
    # The delta is a change: +50 on the YES 0.42 bid of 13 makes 63, and the NO ask mirrors it.
    out = books(feed.on_frame(frame(WS["nautilus_delta"]), 6))
    assert out[f"{BTC}-YES"].bid_qty == qty("63")
    assert out[f"{BTC}-NO"].asks[0] == (px("0.58"), qty("63"))


def test_deltas_change_and_remove_levels_on_both_sides():
    feed = started()
    base = WS["orderbook_delta"]
    seq = 3

    def delta(price, change, side):
        nonlocal seq
        m = copy.deepcopy(base)
        m["seq"] = seq
        seq += 1
        m["msg"].update(price_dollars=price, delta_fp=change, side=side)
        return books(feed.on_frame(frame(m), seq))

    out = delta("0.5600", "-146.00", "no")  # the best NO bid goes
    assert out[f"{FED}-YES"].ask_px == px("0.46") and out[f"{FED}-NO"].bid_px == px("0.54")
    out = delta("0.3000", "25.00", "yes")  # a new best YES bid
    assert out[f"{FED}-YES"].bids[0] == (px("0.30"), qty("25"))
    assert out[f"{FED}-NO"].asks[0] == (px("0.70"), qty("25"))
    out = delta("0.3000", "-30.00", "yes")  # more than there is: the level goes
    assert out[f"{FED}-YES"].bid_px == px("0.22")


def test_only_the_requested_outcome_is_published():
    feed = started(symbols=[f"{FED}-NO"])
    m = copy.deepcopy(WS["orderbook_delta"])
    assert set(books(feed.on_frame(frame(m), 20))) == {f"{FED}-NO"}


def test_seq_gap_resubscribes_the_market_and_a_new_snapshot_restores_it():
    feed = started()
    m = copy.deepcopy(WS["orderbook_delta"])
    m["seq"] = 5  # 3 and 4 are missing
    events = feed.on_frame(frame(m), 20)
    resync = [e for e in events if isinstance(e, Resync)]
    assert resync == [Resync("gap", (f"{FED}-YES", f"{FED}-NO"))]
    unsub, sub = sends(events)
    assert unsub["cmd"] == "unsubscribe" and unsub["params"] == {"sids": [2]}
    assert sub["cmd"] == "subscribe" and sub["params"]["market_ticker"] == FED
    assert not books(events)
    # The old subscription's tail is ignored; the new one's snapshot brings the book back.
    m["seq"] = 6
    assert feed.on_frame(frame(m), 21) == []
    feed.on_frame(subscribed(sub["id"], 7), 22)
    snap = copy.deepcopy(WS["orderbook_snapshot"])
    snap.update(sid=7, seq=1)
    out = books(feed.on_frame(frame(snap), 23))
    assert out[f"{FED}-YES"].bid_px == px("0.22")
    assert feed.subscriptions() == {7: (FED,)}


def test_delta_before_snapshot_and_crossed_books_resubscribe():
    feed, cmds = open_feed([FED])
    feed.on_frame(subscribed(cmds[0]["id"], 2), 1)
    events = feed.on_frame(frame(WS["orderbook_delta"]), 2)  # no snapshot yet
    assert [e.reason for e in events if isinstance(e, Resync)] == ["gap"]

    feed = started()
    m = copy.deepcopy(WS["orderbook_delta"])
    m["msg"].update(price_dollars="0.4500", delta_fp="10.00", side="yes")  # 0.45 + 0.56 > 1
    events = feed.on_frame(frame(m), 30)
    assert [e.reason for e in events if isinstance(e, Resync)] == ["crossed"]
    assert not books(events)

    feed, cmds = open_feed([FED])
    feed.on_frame(subscribed(cmds[0]["id"], 2), 1)
    snap = copy.deepcopy(WS["orderbook_snapshot"])
    snap["msg"]["yes_dollars_fp"].append(["0.5000", "1.00"])
    assert [e.reason for e in feed.on_frame(frame(snap), 2) if isinstance(e, Resync)] == ["crossed"]


def test_an_empty_side_is_absent_from_the_snapshot():
    feed, cmds = open_feed([FED])
    feed.on_frame(subscribed(cmds[0]["id"], 2), 1)
    snap = copy.deepcopy(WS["orderbook_snapshot"])
    del snap["msg"]["no_dollars_fp"]
    out = books(feed.on_frame(frame(snap), 2))
    assert out[f"{FED}-YES"].ask_px == 0 and out[f"{FED}-YES"].bid_px == px("0.22")
    assert out[f"{FED}-NO"].bid_px == 0 and out[f"{FED}-NO"].ask_px == px("0.78")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m["msg"].update(price_dollars=0.96),  # a number, not the documented string
        lambda m: m["msg"].pop("delta_fp"),
        lambda m: m["msg"].update(side="maybe"),
        lambda m: m["msg"].update(price_dollars="1.2000"),
        lambda m: m.update(seq="3"),
        lambda m: m["msg"].update(market_ticker="OTHER"),
    ],
)
def test_a_book_message_that_cannot_be_read_resubscribes(mutate):
    feed = started()
    m = copy.deepcopy(WS["orderbook_delta"])
    mutate(m)
    events = feed.on_frame(frame(m), 30)
    assert [e.reason for e in events if isinstance(e, Resync)] == ["malformed"]
    assert [c["cmd"] for c in sends(events)] == ["unsubscribe", "subscribe"]


def test_unparseable_frames_reconnect():
    feed = started()
    assert feed.on_frame(b'{"type": "orderbook_delta", ', 1) == [Reconnect("malformed")]
    assert feed.on_frame(b"[1, 2]", 1) == [Reconnect("malformed")]
    assert feed.on_frame(frame({"type": "ticker", "sid": 9, "msg": {}}), 1) == []  # another channel


def test_error_codes():
    # 16 market not found: the market is dropped and reported, not retried forever.
    feed, cmds = open_feed([f"{FED}-YES", BTC])
    err = {"id": cmds[0]["id"], "type": "error", "msg": {"code": 16, "msg": "Market not found"}}
    events = feed.on_frame(frame(err), 1)
    assert events == [Resync("market_not_found", (f"{FED}-YES",))]
    # 17 internal error on a subscribe: subscribe again (a fresh id), three times, then reconnect.
    err = {"id": cmds[1]["id"], "type": "error", "msg": {"code": 17, "msg": "Internal error"}}
    for _ in range(3):
        events = feed.on_frame(frame(err), 2)
        (again,) = sends(events)
        assert again["cmd"] == "subscribe" and again["params"]["market_ticker"] == BTC
        err["id"] = again["id"]
    assert feed.on_frame(frame(err), 3)[-1] == Reconnect("resubscribe_failed_error_17")
    # 6 and 7 are harmless; 9 (auth required) and unknown codes reconnect.
    feed = started()
    assert (
        feed.on_frame(frame({"id": 99, "type": "error", "msg": {"code": 7, "msg": "Unknown sid"}}), 4) == []
    )
    assert feed.on_frame(frame(WS["error_quickstart_example"]), 4) == [Reconnect("error_2")]
    assert feed.on_frame(frame({"type": "error", "msg": {"code": 9}}), 4) == [Reconnect("error_9")]
    assert feed.on_frame(frame({"type": "error", "msg": "x"}), 4) == [Reconnect("error_None")]
    # 25 buffer overflow naming a live market: that subscription is resubscribed.
    err = {"type": "error", "msg": {"code": 25, "msg": "Subscription buffer overflow", "market_ticker": FED}}
    events = feed.on_frame(frame(err), 5)
    assert [e.reason for e in events if isinstance(e, Resync)] == ["error_25"]
    assert [c["cmd"] for c in sends(events)] == ["unsubscribe", "subscribe"]


def test_a_subscribe_refused_for_its_rate_is_sent_again_with_the_next_heartbeat():
    """27 (too many requests): no reconnect, which would send every subscribe at once again; the
    market is reported and asked for again when the next list_subscriptions reply comes."""
    feed, cmds = open_feed([f"{FED}-YES", BTC])
    assert feed.on_frame(subscribed(cmds[0]["id"], 2), 1) == []
    err = {"id": cmds[1]["id"], "type": "error", "msg": {"code": 27, "msg": "Too many requests"}}
    events = feed.on_frame(frame(err), 2)
    assert events == [Resync("throttled", (f"{BTC}-YES", f"{BTC}-NO"))]  # nothing sent yet
    # a 27 for a command that waits on nothing of ours (an unsubscribe, a list): nothing to do
    assert feed.on_frame(frame({"id": 77, "type": "error", "msg": {"code": 27}}), 3) == []
    heartbeat = {"id": 0, "type": "ok", "msg": [{"channel": "orderbook_delta", "sid": 2}]}
    (again,) = sends(feed.on_frame(frame(heartbeat), 4))
    assert again["cmd"] == "subscribe" and again["params"]["market_ticker"] == BTC
    assert sends(feed.on_frame(frame(heartbeat), 5)) == []  # asked once, not at every heartbeat
    # refused again: again at the following heartbeat, still without reconnecting
    err["id"] = again["id"]
    assert feed.on_frame(frame(err), 6) == [Resync("throttled", (f"{BTC}-YES", f"{BTC}-NO"))]
    (third,) = sends(feed.on_frame(frame(heartbeat), 7))
    assert third["params"]["market_ticker"] == BTC
    assert feed.on_frame(subscribed(third["id"], 3), 8) == []
    assert feed.subscriptions() == {2: (FED,), 3: (BTC,)}


def test_list_subscriptions_reply_confirms_quiet_books_and_finds_lost_subscriptions():
    feed = started()
    alive = {
        "id": 0,
        "type": "ok",
        "msg": [{"channel": "orderbook_delta", "sid": 2}, {"channel": "ticker", "sid": 3}],
    }
    assert books(feed.on_frame(frame(alive), 10 + 1_000_000_000)) == {}  # changed 1 s ago: nothing
    later = 10 + int(KalshiFeed.confirm_after_s * 1e9) + 1
    out = books(feed.on_frame(frame(alive), later))
    assert set(out) == {f"{FED}-YES", f"{FED}-NO"} and out[f"{FED}-YES"].ts_ns == later
    assert out[f"{FED}-YES"].bid_px == px("0.22")
    gone = {"id": 0, "type": "ok", "msg": [{"channel": "ticker", "sid": 3}]}
    events = feed.on_frame(frame(gone), later + 1)
    assert [e.reason for e in events if isinstance(e, Resync)] == ["lost_subscription"]


def test_handshake_headers_are_signed_over_the_ws_path():
    signer = KalshiSigner.from_pem("test-key-id", (FIXTURES / "test_private_key.pem").read_bytes())
    feed = KalshiFeed([FED], ws_url="wss://api.elections.kalshi.com/trade-api/ws/v2", signer=signer)
    headers = feed.handshake_headers()
    pub = load_public_key((FIXTURES / "test_public_key.pem").read_bytes())
    assert verify_signature(
        pub, headers[ACCESS_SIGNATURE], int(headers[ACCESS_TIMESTAMP]), "GET", "/trade-api/ws/v2"
    )
    assert KalshiFeed([FED], ws_url="wss://x/trade-api/ws/v2").handshake_headers() == {}


def test_the_no_book_is_mirrored_in_c_as_in_python() -> None:
    from venues.live._fastfeed import mirror  # make test builds it (pip install -e .)

    one = 10**9
    rng = random.Random(11)
    for _ in range(2000):
        levels = tuple(
            (rng.randrange(1, one), rng.choice([1, rng.randrange(10**14), 2**70]))
            for _ in range(rng.randrange(12))
        )
        got = mirror(levels, one)
        assert got == mirror_levels(levels, one)
        assert type(got) is tuple and all(type(lv) is tuple for lv in got)
    for bad in ([(1, 2)], ((1, 2, 3),), ((1,),), (None,), (("1", 2),)):
        with pytest.raises(TypeError):
            mirror(bad, one)
