"""Kraken's v2 book protocol, sans I/O: the documented checksum vectors, the real BTC/USD capture
replayed frame by frame, and every way a book goes wrong."""

from __future__ import annotations

import json
import random
import zlib
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from venues.kraken.feed import KrakenBookProtocol, book_checksum, exact_int, side_text
from venues.live.book import ASK, BID, L2Book
from venues.live.protocol import BookChanged, Reconnect, Resync, Send

SHARED = Path("/work/shared/venues/kraken")
CAPTURE = [line for line in (SHARED / "ws_v2_book_capture_btcusd.jsonl").read_text().splitlines() if line]
VECTORS = json.loads((SHARED / "test_vectors.json").read_text())
DOC_EXAMPLES = [
    json.loads(line) for line in (SHARED / "ws_v2_doc_examples.jsonl").read_text().splitlines() if line
]
PRECISION = {"BTC/USD": (1, 8), "MATIC/USD": (4, 8), "ETH/USD": (2, 8)}


def proto(*symbols: str, depth: int = 10) -> KrakenBookProtocol:
    p = KrakenBookProtocol(symbols or ("BTC/USD",), ws_url="ws://unused", precision=PRECISION, depth=depth)
    p.on_open()
    return p


def frame(kind: str, sym: str, bids, asks, checksum: int) -> str:
    lv = lambda levels: ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in levels)  # noqa: E731
    return (
        f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{sym}","bids":[{lv(bids)}],'
        f'"asks":[{lv(asks)}],"checksum":{checksum}}}]}}'
    )


def crc_of(bids, asks, pd: int, ld: int) -> int:
    """An independent checksum on decimal text (the guide's steps), for crafted frames."""
    text = ""
    for px, qty in (
        sorted(asks, key=lambda x: Decimal(x[0]))[:10] + sorted(bids, key=lambda x: -Decimal(x[0]))[:10]
    ):
        text += f"{Decimal(px):.{pd}f}".replace(".", "").lstrip("0")
        text += f"{Decimal(qty):.{ld}f}".replace(".", "").lstrip("0")
    return zlib.crc32(text.encode())


# -- the documented vectors ------------------------------------------------------------------------


def test_checksum_guide_vector() -> None:
    v = VECTORS["book_checksum_v2_guide"]
    book = L2Book()
    book.replace(
        [(exact_int(p, 9), exact_int(q, 8)) for p, q in v["bids_high_to_low"]],
        [(exact_int(p, 9), exact_int(q, 8)) for p, q in v["asks_low_to_high"]],
    )
    assert book_checksum(book, v["price_decimals"], v["qty_decimals"]) == v["checksum"] == 3310070434


def test_doc_examples_verify() -> None:
    """The book page's MATIC/USD snapshot (2439117997) and update (2114181697), and the guide's
    BTC/USD snapshot (3310070434), all pass through the protocol with no resync."""
    matic = proto("MATIC/USD")
    btc = proto("BTC/USD")
    seen = []
    for ex in DOC_EXAMPLES:
        msg = ex["msg"]
        if msg.get("channel") != "book":
            continue
        p = matic if msg["data"][0]["symbol"] == "MATIC/USD" else btc
        events = p.on_frame(json.dumps(msg), 1)
        assert [type(e) for e in events] == [BookChanged], ex["label"]
        seen.append(msg["data"][0]["checksum"])
    assert seen == [2439117997, 2114181697, 3310070434]
    book = matic.books["MATIC/USD"]
    assert book.best(BID) == (exact_int("0.5666", 9), exact_int("4831.75496356", 8))
    assert dict(book.levels(BID, 10))[exact_int("0.5657", 9)] == exact_int("1098.3947558", 8)


def test_exact_int() -> None:
    assert exact_int("0.10000000", 8) == 10_000_000
    assert exact_int("29430.2", 9) == 29_430_200_000_000
    assert exact_int("4", 8) == 400_000_000
    assert exact_int("1e-05", 8) == 1000
    assert exact_int("0.123000000000", 9) == 123_000_000  # trailing zeros beyond the scale are fine
    for bad in ("0.0000000001", "-1", "abc", "1.2.3", ""):
        with pytest.raises(ValueError):
            exact_int(bad, 8)


# -- the real capture ------------------------------------------------------------------------------


def test_capture_replays_with_every_checksum_passing() -> None:
    p = proto()
    ref_bids: dict[Decimal, Decimal] = {}
    ref_asks: dict[Decimal, Decimal] = {}
    for n, line in enumerate(CAPTURE):
        events = p.on_frame(line, 1_000 + n)
        assert [type(e) for e in events] == [BookChanged], f"frame {n}: {events}"
        # an independent reconstruction in Decimal, truncated to depth 10
        item = json.loads(line, parse_float=Decimal)["data"][0]
        if n == 0:
            ref_bids.clear()
            ref_asks.clear()
        for ref, key in ((ref_bids, "bids"), (ref_asks, "asks")):
            for lv in item[key]:
                if lv["qty"] == 0:
                    ref.pop(lv["price"], None)
                else:
                    ref[lv["price"]] = lv["qty"]
        for k in sorted(ref_bids)[:-10]:
            del ref_bids[k]
        for k in sorted(ref_asks)[10:]:
            del ref_asks[k]
    snap = events[0].snapshot
    assert snap.ts_ns == 1_000 + len(CAPTURE) - 1
    assert snap.bids == tuple(
        (int(p * 10**9), int(q * 10**8)) for p, q in sorted(ref_bids.items(), reverse=True)
    )
    assert snap.asks == tuple((int(p * 10**9), int(q * 10**8)) for p, q in sorted(ref_asks.items()))
    assert len(snap.bids) == len(snap.asks) == 10
    assert snap.bid_px < snap.ask_px


def test_a_corrupted_checksum_resubscribes_and_the_new_snapshot_heals() -> None:
    p = proto()
    for line in CAPTURE[:100]:
        p.on_frame(line, 1)
    item = json.loads(CAPTURE[100])
    item["data"][0]["checksum"] ^= 1
    events = p.on_frame(json.dumps(item), 2)
    assert events[0] == Resync("checksum", ("BTC/USD",))
    sent = [orjson.loads(e.frame) for e in events if isinstance(e, Send)]
    assert [m["method"] for m in sent] == ["unsubscribe", "subscribe"]
    for m in sent:
        assert m["params"]["channel"] == "book" and m["params"]["symbol"] == ["BTC/USD"]
        assert m["params"]["depth"] == 10 and isinstance(m["req_id"], int)
    assert sent[1]["params"]["snapshot"] is True
    assert "BTC/USD" not in p.books
    assert p.on_frame(CAPTURE[101], 3) == []  # updates before the new snapshot are ignored
    assert [type(e) for e in p.on_frame(CAPTURE[0], 4)] == [BookChanged]


def test_three_bad_snapshots_in_a_row_reconnect() -> None:
    p = proto()
    bad = json.loads(CAPTURE[0])
    bad["data"][0]["checksum"] ^= 1
    for _ in range(2):
        assert isinstance(p.on_frame(json.dumps(bad), 1)[0], Resync)
    events = p.on_frame(json.dumps(bad), 1)
    assert events == [Resync("checksum", ("BTC/USD",)), Reconnect("checksum")]


def test_a_heartbeat_republishes_quiet_verified_books_but_not_dropped_ones() -> None:
    p = proto("ETH/USD", "BTC/USD")
    bids, asks = [("100.00", "1.00000000")], [("101.00", "2.00000000")]
    (first,) = p.on_frame(frame("snapshot", "ETH/USD", bids, asks, crc_of(bids, asks, 2, 8)), 10)
    btc_bids, btc_asks = [("29000.0", "1.00000000")], [("29001.0", "1.00000000")]
    p.on_frame(frame("snapshot", "BTC/USD", btc_bids, btc_asks, crc_of(btc_bids, btc_asks, 1, 8)), 10)
    # BTC/USD's next update fails its checksum: dropped, awaiting its resnapshot
    events = p.on_frame(frame("update", "BTC/USD", [("29000.0", "2.00000000")], [], 1), 11)
    assert events[0] == Resync("checksum", ("BTC/USD",))
    heartbeat = '{"channel":"heartbeat"}'
    confirm_ns = int(KrakenBookProtocol.confirm_after_s * 1e9)
    assert p.on_frame(heartbeat, 10 + 1_000_000_000) == []  # published 1 s ago: nothing
    assert p.on_frame(heartbeat, 10 + confirm_ns - 1) == []
    later = 10 + confirm_ns
    (again,) = p.on_frame(heartbeat, later)  # ETH/USD only: BTC/USD has no verified book
    assert again.symbol == "ETH/USD" and again.snapshot.ts_ns == later
    assert (again.snapshot.bids, again.snapshot.asks) == (first.snapshot.bids, first.snapshot.asks)
    assert p.on_frame(heartbeat, later + 1) == []  # just published again
    # an update publishes the book: the next confirmation counts from it
    upd = [("100.00", "3.00000000")]
    events = p.on_frame(frame("update", "ETH/USD", upd, [], crc_of(upd, asks, 2, 8)), later + 5)
    assert [type(e) for e in events] == [BookChanged]
    assert p.on_frame(heartbeat, later + confirm_ns) == []
    assert [e.symbol for e in p.on_frame(heartbeat, later + 5 + confirm_ns)] == ["ETH/USD"]
    # a crossed book is dropped too: no confirmation until its new snapshot
    crossed = [("101.50", "1.00000000")]
    events = p.on_frame(frame("update", "ETH/USD", crossed, [], crc_of(crossed + upd, asks, 2, 8)), later + 6)
    assert events[0] == Resync("crossed", ("ETH/USD",))
    assert p.on_frame(heartbeat, later + 6 + 2 * confirm_ns) == []


# -- book maintenance --------------------------------------------------------------------------------


def test_updates_truncate_to_the_subscribed_depth() -> None:
    p = proto("ETH/USD")
    bids = [(f"{100 - i}.00", "1.00000000") for i in range(10)]
    asks = [(f"{101 + i}.00", "1.00000000") for i in range(10)]
    assert isinstance(
        p.on_frame(frame("snapshot", "ETH/USD", bids, asks, crc_of(bids, asks, 2, 8)), 1)[0], BookChanged
    )
    # a new bid inside the book pushes 91.00 out; Kraken sends no delete for it
    new_bids = sorted([*bids, ("99.50", "2.00000000")], key=lambda x: -Decimal(x[0]))[:10]
    events = p.on_frame(
        frame("update", "ETH/USD", [("99.50", "2.00000000")], [], crc_of(new_bids, asks, 2, 8)), 2
    )
    assert [type(e) for e in events] == [BookChanged]
    snap = events[0].snapshot
    assert len(snap.bids) == 10 and snap.bids[-1][0] == exact_int("92.00", 9)
    assert p.books["ETH/USD"].depth(BID) == 10


def test_the_same_price_twice_in_one_update_applies_in_order() -> None:
    p = proto("ETH/USD")
    bids, asks = [("100.00", "1.00000000")], [("101.00", "1.00000000")]
    p.on_frame(frame("snapshot", "ETH/USD", bids, asks, crc_of(bids, asks, 2, 8)), 1)
    upd = [("100.00", "0.10000000"), ("100.00", "0.09658466")]
    events = p.on_frame(frame("update", "ETH/USD", upd, [], crc_of([upd[1]], asks, 2, 8)), 2)
    assert events[0].snapshot.bid_qty == exact_int("0.09658466", 8)


def test_a_crossed_book_resyncs() -> None:
    p = proto("ETH/USD")
    bids, asks = [("100.00", "1.00000000")], [("101.00", "1.00000000")]
    p.on_frame(frame("snapshot", "ETH/USD", bids, asks, crc_of(bids, asks, 2, 8)), 1)
    crossed = [("101.50", "1.00000000")]
    events = p.on_frame(frame("update", "ETH/USD", crossed, [], crc_of(crossed + bids, asks, 2, 8)), 2)
    assert events[0] == Resync("crossed", ("ETH/USD",))
    assert [orjson.loads(e.frame)["method"] for e in events[1:]] == ["unsubscribe", "subscribe"]


def test_quantities_beyond_float_precision_stay_exact() -> None:
    p = proto("ETH/USD")
    bids = [("100.00", "123456789.12345678")]  # 17 significant digits: a float would round it
    asks = [("101.00", "1.00000000")]
    events = p.on_frame(frame("snapshot", "ETH/USD", bids, asks, crc_of(bids, asks, 2, 8)), 1)
    assert events[0].snapshot.bid_qty == 12345678912345678


def test_a_multi_symbol_frame_decoded_again_exactly_keeps_the_earlier_items_resync() -> None:
    """Item A fails its checksum (dropped, resubscribed); item B has a size past the float path's
    limit, so the frame is decoded again as text: A's resubscribe must survive that."""
    p = proto("ETH/USD", "BTC/USD")
    bids, asks = [("100.00", "1.00000000")], [("101.00", "1.00000000")]
    p.on_frame(frame("snapshot", "ETH/USD", bids, asks, crc_of(bids, asks, 2, 8)), 1)
    btc_bids, btc_asks = [("29000.0", "1.00000000")], [("29001.0", "1.00000000")]
    p.on_frame(frame("snapshot", "BTC/USD", btc_bids, btc_asks, crc_of(btc_bids, btc_asks, 1, 8)), 1)
    huge = [("29000.0", "20000000.00000000")]  # 2e15 units ≥ 2**50: the exact re-decode
    assert exact_int(huge[0][1], 8) >= 2**50
    item_a = '{"symbol":"ETH/USD","bids":[{"price":100.00,"qty":2.00000000}],"asks":[],"checksum":1}'
    item_b = (
        '{"symbol":"BTC/USD","bids":[{"price":29000.0,"qty":20000000.00000000}],"asks":[],'
        f'"checksum":{crc_of(huge, btc_asks, 1, 8)}}}'
    )
    events = p.on_frame(f'{{"channel":"book","type":"update","data":[{item_a},{item_b}]}}', 2)
    assert events[0] == Resync("checksum", ("ETH/USD",))
    sent = [orjson.loads(e.frame) for e in events if isinstance(e, Send)]
    assert [(m["method"], m["params"]["symbol"]) for m in sent] == [
        ("unsubscribe", ["ETH/USD"]),
        ("subscribe", ["ETH/USD"]),
    ]
    changed = [e for e in events if isinstance(e, BookChanged)]
    assert [e.symbol for e in changed] == ["BTC/USD"]
    assert changed[0].snapshot.bid_qty == 2_000_000_000_000_000
    assert len(events) == 4 and "ETH/USD" not in p.books


def test_malformed_frames_resync_everything() -> None:
    p = proto("BTC/USD", "ETH/USD")
    for bad in ("{not json", "[1,2]", '{"channel":"book","type":"update","data":"x"}'):
        events = p.on_frame(bad, 1)
        assert events[0] == Resync("malformed", ("BTC/USD", "ETH/USD")), bad
    # a level without qty: that symbol only
    p.on_frame(CAPTURE[0], 1)
    events = p.on_frame(
        '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1}],'
        '"asks":[],"checksum":1}]}',
        2,
    )
    assert events[0] == Resync("malformed", ("BTC/USD",))


def test_venue_messages() -> None:
    p = proto("BTC/USD", "XBT/USD")
    # a symbol without precision (not in AssetPairs) is not even requested
    assert orjson.loads(p.on_open()[0])["params"]["symbol"] == ["BTC/USD"]
    assert "XBT/USD" in p.errors
    assert p.on_frame('{"channel":"heartbeat"}', 1) == []
    assert (
        p.on_frame(
            '{"channel":"status","data":[{"api_version":"v2","system":"maintenance","version":"2.0.6"}],'
            '"type":"update"}',
            1,
        )
        == []
    )
    assert p.system_status == "maintenance"
    assert p.on_frame('{"method":"pong","req_id":1,"time_in":"x","time_out":"y"}', 1) == []
    # one symbol refused: recorded, no reconnect
    err = {
        "error": "Currency pair not supported ETH/USD",
        "method": "subscribe",
        "req_id": 1,
        "success": False,
        "symbol": "ETH/USD",
        "time_in": "x",
        "time_out": "y",
    }
    assert p.on_frame(json.dumps(err), 1) == []
    assert p.errors["ETH/USD"] == "Currency pair not supported ETH/USD"
    # the whole request refused: reconnect
    err.pop("symbol")
    err["error"] = "Unsupported event"
    assert p.on_frame(json.dumps(err), 1) == [Reconnect("subscribe_refused")]
    with pytest.raises(ValueError):
        KrakenBookProtocol(["BTC/USD"], precision=PRECISION, depth=11)


def test_depth_25_still_checks_the_top_10() -> None:
    p = proto("ETH/USD", depth=25)
    assert orjson.loads(p.on_open()[0])["params"]["depth"] == 25
    bids = [(f"{100 - i}.00", "1.00000000") for i in range(25)]
    asks = [(f"{101 + i}.00", "1.00000000") for i in range(25)]
    events = p.on_frame(frame("snapshot", "ETH/USD", bids, asks, crc_of(bids, asks, 2, 8)), 1)
    assert len(events[0].snapshot.bids) == 25
    assert book_checksum(p.books["ETH/USD"], 2, 8) == crc_of(bids[:10], asks[:10], 2, 8)
    assert p.books["ETH/USD"].depth(ASK) == 25


def test_a_pong_confirms_quiet_books_of_a_busy_connection() -> None:
    # Kraken sends no heartbeat while other updates flow: the answer to our own ping confirms the
    # quiet books instead (it comes behind every update sent before it).
    assert KrakenBookProtocol.ping_interval_s is not None
    p = proto("ETH/USD")
    assert p.ping_frame() == '{"method":"ping"}'
    bids, asks = [("100.00", "1.00000000")], [("101.00", "2.00000000")]
    (first,) = p.on_frame(frame("snapshot", "ETH/USD", bids, asks, crc_of(bids, asks, 2, 8)), 10)
    pong = '{"method":"pong","req_id":7,"time_in":"2026-12-07T01:00:00.000000Z","time_out":"2026-12-07T01:00:00.000010Z"}'
    confirm_ns = int(KrakenBookProtocol.confirm_after_s * 1e9)
    assert p.on_frame(pong, 10 + confirm_ns - 1) == []
    (again,) = p.on_frame(pong, 10 + confirm_ns)
    assert again.symbol == "ETH/USD" and again.snapshot.ts_ns == 10 + confirm_ns
    assert (again.snapshot.bids, again.snapshot.asks) == (first.snapshot.bids, first.snapshot.asks)
    # a refused ping confirms nothing
    refused = '{"method":"ping","success":false,"error":"Unsupported field"}'
    assert p.on_frame(refused, 10 + 3 * confirm_ns) == []


# -- the checksum in C (venues/live/native/fastfeed.c) ------------------------------------------------


def test_the_c_checksum_is_built_and_writes_each_side_as_the_python_text_does() -> None:
    from venues.live._fastfeed import side_crc  # make test builds it (pip install -e .)

    rng = random.Random(3)
    for _ in range(3000):
        pd, ld = rng.choice([(1, 8), (2, 8), (4, 8), (5, 0), (9, 8), (0, 2)])
        n = rng.choice([0, 1, 5, 10, 12])
        levels = tuple(
            (
                rng.choice([0, 1, 10**9, rng.randrange(10**15), rng.randrange(2**63)]),
                rng.choice([0, 10**8, rng.randrange(10**12), rng.randrange(2**63)]),
            )
            for _ in range(n)
        )
        start = rng.choice([0, rng.randrange(2**32)])
        want = zlib.crc32(side_text(levels, pd, ld), start)
        assert side_crc(levels, 10 ** (9 - pd), 10 ** (8 - ld), start) == want, (levels, pd, ld)
    # a number past 64 bits is refused (-1): the feed takes the Python path for that frame
    assert side_crc(((10**9, 2**63),), 1, 1, 0) == -1
    assert side_crc(((2**64, 1),), 1, 1, 0) == -1
    # only the first 10 levels count, as the venue's
    deep = tuple((10**9 * (100 + i), 10**8) for i in range(15))
    assert side_crc(deep, 10**8, 1, 0) == side_crc(deep[:10], 10**8, 1, 0)


@pytest.mark.parametrize("native", ["1", "0"])
def test_a_size_past_64_bits_is_checksummed_exactly(monkeypatch: pytest.MonkeyPatch, native: str) -> None:
    # 1e11 MATIC is 1e19 units of 1e-8: past what the C checksum takes, so that frame is written as
    # text in Python; the verdict is the same either way.
    monkeypatch.setenv("SEQUENCE_NATIVE_FEED", native)
    p = proto("MATIC/USD")
    bids = [("0.5000", "100000000000.00000000"), ("0.4999", "1.00000000")]
    asks = [("0.5001", "2.00000000")]
    (ev,) = p.on_frame(frame("snapshot", "MATIC/USD", bids, asks, crc_of(bids, asks, 4, 8)), 1)
    assert isinstance(ev, BookChanged) and ev.snapshot.bid_qty == 10**19
    asks2 = [("0.5001", "3.00000000")]
    (ev,) = p.on_frame(frame("update", "MATIC/USD", [], asks2, crc_of(bids, asks2, 4, 8)), 2)
    assert isinstance(ev, BookChanged) and ev.snapshot.ask_qty == 3 * 10**8
    bad = crc_of(bids, asks2, 4, 8) ^ 1
    assert p.on_frame(frame("update", "MATIC/USD", [("0.4999", "2.00000000")], [], bad), 3)[0] == Resync(
        "checksum", ("MATIC/USD",)
    )


def test_good_snapshots_whose_updates_keep_failing_reconnect_instead_of_resubscribing_forever() -> None:
    # A snapshot that verifies, then an update that does not, again and again (a book we keep
    # wrongly): the third drop without a verified update in between reconnects (with backoff).
    p = proto("ETH/USD")
    bids, asks = [("100.00", "1.00000000")], [("101.00", "2.00000000")]
    snap = frame("snapshot", "ETH/USD", bids, asks, crc_of(bids, asks, 2, 8))
    bad_update = frame("update", "ETH/USD", [("100.00", "3.00000000")], [], 12345)
    for _ in range(2):
        assert [type(e) for e in p.on_frame(snap, 1)] == [BookChanged]
        events = p.on_frame(bad_update, 2)
        assert events[0] == Resync("checksum", ("ETH/USD",)) and not any(type(e) is Reconnect for e in events)
    assert [type(e) for e in p.on_frame(snap, 3)] == [BookChanged]
    assert p.on_frame(bad_update, 4) == [Resync("checksum", ("ETH/USD",)), Reconnect("checksum")]
    # a verified update in between starts the count again
    p = proto("ETH/USD")
    good = [("100.00", "4.00000000")]
    good_update = frame("update", "ETH/USD", good, [], crc_of(good, asks, 2, 8))
    for _ in range(4):
        p.on_frame(snap, 1)
        assert [type(e) for e in p.on_frame(good_update, 2)] == [BookChanged]
        events = p.on_frame(bad_update, 3)
        assert not any(type(e) is Reconnect for e in events)
