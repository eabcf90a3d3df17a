"""Polymarket's price_change in one C call (venues/live/native/l2book.c `apply_price_changes`) against
the Python path it shortcuts (`PolymarketFeed._on_price_change`): two feeds take the same random
messages, one with the C call and one without, and after every message their events, books and
token states must be the same.

The messages come from a model of the venue's books, so most updates are consistent (their
best_bid/best_ask are the model's), and among them: entries for tokens not ours and with no token,
updates older than the snapshot or than the last update, texts that are not plain decimals (signs,
exponents, spaces, a second dot, more decimals than the scale, more than 18 digits), bad sides,
prices past 1, best prices that disagree (a lost update), updates that cross the book, entries that are not dicts,
the 2024 single-level form, arrays of events, and snapshots that bring resynced tokens back."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

import venues.polymarket.feed as pm
from tests.fakevenues.polymarket import FakePolymarket
from venues.live.book import ASK, BID
from venues.live.protocol import BookChanged, Reconnect, Resync, Send, TickSizeChanged

A = FakePolymarket.BURST_A
B = FakePolymarket.BURST_B
STRANGER = "1" * 70  # a token id we do not follow

NATIVE = pm._apply_price_changes
pytestmark = pytest.mark.skipif(NATIVE is None, reason="venues.live._l2book not built, or turned off")


def _event(e: Any) -> tuple[Any, ...]:
    if type(e) is BookChanged:
        s = e.snapshot
        return ("book", e.symbol, s.ts_ns, s.bids, s.asks)
    if type(e) is Resync:
        return ("resync", e.reason, e.symbols)
    if type(e) is Send:
        return ("send", e.frame)
    if type(e) is Reconnect:
        return ("reconnect", e.reason)
    if type(e) is TickSizeChanged:
        return ("tick", e.symbol, e.old_tick_1e9, e.new_tick_1e9)
    raise AssertionError(e)


def _state(f: pm.PolymarketFeed) -> list[tuple[Any, ...]]:
    out = []
    for tok in f._tokens.values():
        book = tok.book
        out.append(
            (
                tok.token_id,
                book.levels(BID, 1000),
                book.levels(ASK, 1000),
                tok.synced,
                tok.had_book,
                tok.last_ts_ms,
                tok.book_ts_ms,
                tok.hash,
                tok.changed_ns,
                tok.wait_since_ns,
            )
        )
    return out


class Venue:
    """The venue's books (price text → size text per side) and the messages it would send."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ts = 1_700_000_000_000
        self.books: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
        for tok in (A, B):  # thin books: sides empty out now and then (best_bid "0", best_ask "1")
            self.books[tok] = (
                {self.price(1, 45): self.size() for _ in range(rng.randrange(4))},
                {self.price(55, 99): self.size() for _ in range(rng.randrange(4))},
            )

    def price(self, lo: int, hi: int) -> str:
        return f"0.{self.rng.randrange(lo, hi):02d}"

    def size(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return str(self.rng.randrange(1, 500))
        if r < 0.9:
            return f"{self.rng.randrange(1, 50000)}.{self.rng.randrange(100):02d}"
        return f"{self.rng.randrange(1, 9)}.{self.rng.randrange(10**8):08d}"

    def best(self, tok: str) -> tuple[str, str]:
        bids, asks = self.books[tok]
        bid = max(bids, key=float) if bids else "0"
        ask = min(asks, key=float) if asks else "1"
        return bid, ask

    def snapshot(self, tok: str) -> dict[str, Any]:
        bids, asks = self.books[tok]
        return {
            "event_type": "book",
            "asset_id": tok,
            "market": "0xabc",
            "bids": [{"price": p, "size": s} for p, s in bids.items()],
            "asks": [{"price": p, "size": s} for p, s in asks.items()],
            "timestamp": str(self.ts),
            "hash": f"{self.rng.getrandbits(64):016x}",
        }

    def change(self, tok: str) -> dict[str, Any]:
        """One entry: a level of the model changed, with the model's best prices after it."""
        rng = self.rng
        bids, asks = self.books[tok]
        if rng.random() < 0.5:
            side, levels, px = "BUY", bids, self.price(1, 50)
        else:
            side, levels, px = "SELL", asks, self.price(50, 100)
        size = "0" if rng.random() < 0.4 else self.size()
        if size == "0" and levels and rng.random() < 0.8:
            px = rng.choice(list(levels))  # a level that is there
        if size == "0":
            levels.pop(px, None)
        else:
            levels[px] = size
        bid, ask = self.best(tok)
        if float(bid) >= float(ask):  # keep the venue's own book uncrossed: undo
            levels.pop(px, None)
            bid, ask = self.best(tok)
            size = "0"
        return {
            "asset_id": tok,
            "price": px,
            "size": size,
            "side": side,
            "hash": f"{rng.getrandbits(64):016x}",
            "best_bid": bid,
            "best_ask": ask,
        }

    def spoil(self, entry: dict[str, Any]) -> None:
        """One of the ways an entry goes wrong or strange."""
        rng = self.rng
        how = rng.randrange(16)
        if how == 0:
            entry["asset_id"] = STRANGER
        elif how == 1:
            del entry["asset_id"]
        elif how == 2:
            entry["price"] = rng.choice(
                ["-0.5", "1e-2", " 0.5", "0.5.1", "0.5000000001", "", ".", "0.x", "1.5", "10000000000"]
            )  # a price past 1 is no price of Polymarket's
        elif how == 3:
            entry["size"] = rng.choice(["-1", "1e3", "12 ", "1.000000001", "1" * 19, "1" * 41, "NaN"])
        elif how == 4:
            entry["size"] = rng.choice([".5", "5.", "7.0000000000", "0.00000001", "1" * 18, "0"])
        elif how == 5:
            entry["side"] = rng.choice(["buy", "BID", None, 1])
        elif how == 6:
            entry["best_bid"] = self.price(1, 50)  # probably not the best: a lost update
        elif how == 7:
            entry["best_ask"] = rng.choice(["", None, "1", "0", "0.5000000000"])
        elif how == 8:
            del entry["best_bid"]
            del entry["best_ask"]
        elif how == 9:
            entry["best_bid"] = None
            entry["best_ask"] = None
        elif how == 10:
            entry["hash"] = rng.choice([None, 5, ""])
        elif how == 11:
            entry["price"] = "0.99" if entry["side"] == "BUY" else "0.01"  # crosses our book
        elif how == 12:
            entry["best_bid"] = rng.choice([5, "1e-1", "0.1.1", "2", "10000000000"])
        elif how == 13:
            entry["price"] = rng.choice([5, None, ["0.5"]])
        elif how == 14:
            del entry["size"]
        else:
            entry["asset_id"] = rng.choice([5, None])

    def message(self) -> Any:
        rng = self.rng
        r = rng.random()
        if r < 0.06:
            return self.snapshot(rng.choice((A, B)))
        if r < 0.08:  # the 2024 single-level form
            entry = self.change(rng.choice((A, B)))
            return {"event_type": "price_change", "timestamp": str(self.ts), "market": "0xabc", **entry}
        # the timestamp: mostly forward, sometimes the same, sometimes older
        t = rng.random()
        if t < 0.8:
            self.ts += rng.randrange(1, 50)
            ts = self.ts
        elif t < 0.9:
            ts = self.ts
        else:
            ts = self.ts - rng.randrange(1, 500)
        entries: list[Any] = []
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            entry = self.change(rng.choice((A, B)))
            if rng.random() < 0.12:
                self.spoil(entry)
            entries.append(entry)
        if rng.random() < 0.01:
            entries.insert(rng.randrange(len(entries) + 1), rng.choice(["x", 5, None, []]))
        msg: dict[str, Any] = {
            "market": "0xabc",
            "price_changes": entries,
            "timestamp": str(ts) if rng.random() > 0.01 else rng.choice([None, "x", -1]),
            "event_type": "price_change",
        }
        if rng.random() < 0.03:
            return [msg, self.snapshot(rng.choice((A, B)))]
        return msg


@pytest.mark.parametrize("deferred", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_the_c_call_and_the_python_path_agree_message_by_message(
    seed: int, deferred: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    venue = Venue(rng)
    native = pm.PolymarketFeed([A, B], ws_url="ws://x")
    python = pm.PolymarketFeed([A, B], ws_url="ws://x")
    for f in (native, python):
        f.defer_books = deferred
        f.on_open()
    taken = {"c": 0, "python": 0}
    emitted = resynced = 0

    def counting(*args: Any) -> Any:
        done = NATIVE(*args)
        taken["c" if done is not None else "python"] += 1
        return done

    recv_ns = 1_000_000
    for tok in (A, B):
        frame = orjson.dumps(venue.snapshot(tok))
        for f in (native, python):
            f.on_frame(frame, recv_ns)
    for i in range(3000):
        recv_ns += 1_000_000
        frame = orjson.dumps(venue.message())
        monkeypatch.setattr(pm, "_apply_price_changes", counting)
        got_native = native.on_frame(frame, recv_ns)
        monkeypatch.setattr(pm, "_apply_price_changes", None)
        got_python = python.on_frame(frame, recv_ns)
        if deferred:
            got_native += native.end_of_read(recv_ns)
            got_python += python.end_of_read(recv_ns)
        assert [_event(e) for e in got_native] == [_event(e) for e in got_python], (i, frame)
        assert _state(native) == _state(python), (i, frame)
        assert native.coalesced == python.coalesced
        emitted += sum(type(e) is BookChanged for e in got_native)
        resynced += sum(type(e) is Resync for e in got_native)
    # The C call did most of the work, and the Python path took what it leaves to it.
    assert taken["c"] > 1500 and taken["python"] > 50, taken
    # and the books were mostly in step with the venue, with resyncs to recover from
    assert emitted > 1000 and resynced > 100, (emitted, resynced)


def test_the_c_call_reads_decimals_as_the_python_parser_does() -> None:
    """Each text alone, in an entry of its own: the C call applies it exactly when the Python
    parser reads it, with the same value, and leaves the message to the Python path otherwise."""
    texts = [
        "0.5", ".5", "5.", "5", "0.50", "0.500000000", "0.5000000000", "0.5000000001", "1e-2", "-0.5",
        " 0.5", "0.5 ", "0.5.1", ".", "", "00.10", "0" * 17 + "1", "1" + "0" * 18, "٣", "0x1",
    ]  # fmt: skip
    for text in texts:
        f = pm.PolymarketFeed([A], ws_url="ws://x")
        f.on_open()
        f.on_frame(orjson.dumps({"event_type": "book", "asset_id": A, "bids": [], "asks": [],
                                 "timestamp": "1"}), 1)  # fmt: skip
        entry = {"asset_id": A, "price": "0.40", "size": text, "side": "BUY"}
        try:
            want: int | None = pm._fixed(text, 8)
        except ValueError:
            want = None
        done = NATIVE([entry], f._tokens, 2)
        if done is None:
            assert want is None or len(text.replace(".", "")) > 18, text
        else:
            assert want is not None, text
            assert f.book(A).size(BID, 400_000_000) == want, text


@pytest.mark.parametrize("bids", [[], [("0.30", "10")]])
@pytest.mark.parametrize("asks", [[], [("0.70", "10")]])
@pytest.mark.parametrize("best_bid", [None, "", "0", "0.30", "0.31"])
@pytest.mark.parametrize("best_ask", [None, "", "0", "1", "0.70", "0.69"])
def test_the_c_call_checks_the_top_as_the_python_path_does(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]], best_bid: str | None, best_ask: str | None
) -> None:
    """Empty sides included: the venue writes an empty bid side as "0" and an empty ask side as "0"
    or "1" (or leaves the fields out); anything else there is a lost update."""
    f = pm.PolymarketFeed([A], ws_url="ws://x")
    f.on_open()
    book = {"event_type": "book", "asset_id": A, "timestamp": "1",
            "bids": [{"price": p, "size": s} for p, s in bids],
            "asks": [{"price": p, "size": s} for p, s in asks]}  # fmt: skip
    f.on_frame(orjson.dumps(book), 1)
    # a change far from the top (a level added at 0.01, or removed if absent: no change)
    entry = {
        "asset_id": A,
        "price": "0.01",
        "size": "0",
        "side": "BUY",
        "best_bid": best_bid,
        "best_ask": best_ask,
    }
    ((tok, verdict),) = NATIVE([entry], f._tokens, 2)
    bid_px, ask_px = f.book(A).best_prices()
    assert tok is f._tokens[A] and tok.last_ts_ms == 2
    assert verdict == (0 if pm._tops_agree(bid_px, ask_px, best_bid, best_ask) else 2)
    # and the venue's own rule, spelled out
    ours_bid = bids[0][0] if bids else None
    ours_ask = asks[0][0] if asks else None
    agree = (best_bid is None and best_ask is None) or (
        (best_bid == ours_bid if ours_bid else best_bid in (None, "", "0"))
        and (best_ask == ours_ask if ours_ask else best_ask in (None, "", "0", "1"))
    )
    assert verdict == (0 if agree else 2)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("price", ["1.5", "10000000000", "9223372036.854775808"])
def test_a_price_past_one_is_a_malformed_message_on_both_paths(
    native: bool, price: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Polymarket price is a probability. One past 1 (past what a C book can hold, too) resyncs its
    token as malformed, in a snapshot or an update, with the C call or without; nothing reconnects."""
    if not native:
        monkeypatch.setattr(pm, "_apply_price_changes", None)
    f = pm.PolymarketFeed([A], ws_url="ws://x")
    f.on_open()
    good = {"event_type": "book", "asset_id": A, "timestamp": "1",
            "bids": [{"price": "0.40", "size": "10"}], "asks": [{"price": "0.60", "size": "10"}]}  # fmt: skip
    assert [type(e) for e in f.on_frame(orjson.dumps(good), 1)] == [BookChanged]
    change = {"event_type": "price_change", "market": "0xabc", "timestamp": "2",
              "price_changes": [{"asset_id": A, "side": "SELL", "price": price, "size": "1"}]}  # fmt: skip
    events = f.on_frame(orjson.dumps(change), 2)
    assert [_event(e) for e in events if type(e) is Resync] == [("resync", "malformed", (A,))]
    assert not any(type(e) is Reconnect for e in events)
    bad = dict(good, timestamp="3", asks=[{"price": price, "size": "1"}])
    f.on_frame(orjson.dumps(good), 3)  # the fresh snapshot after the resync
    events = f.on_frame(orjson.dumps(dict(bad, timestamp="4")), 4)
    assert [_event(e) for e in events if type(e) is Resync] == [("resync", "malformed", (A,))]
    assert not any(type(e) is Reconnect for e in events)
    with pytest.raises(ValueError):
        pm.parse_price_1e9(price)
    assert pm.parse_price_1e9("1") == 1_000_000_000
