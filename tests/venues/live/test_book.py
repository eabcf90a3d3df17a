"""`L2Book` against a book rebuilt from scratch after every change: its kept best levels must never
go stale, whatever mix of changes (inside the kept levels, beyond them, on the other side) came."""

from __future__ import annotations

import random

import pytest

from venues.book import BookSnapshot
from venues.live.book import ASK, BID, L2Book


def reference(sides: tuple[dict[int, int], dict[int, int]], ts_ns: int, depth: int) -> BookSnapshot:
    bids = sorted(sides[BID].items(), reverse=True)[:depth]
    asks = sorted(sides[ASK].items())[:depth]
    return BookSnapshot(ts_ns, bids, asks)


def same(a: BookSnapshot, b: BookSnapshot) -> bool:
    return (a.ts_ns, a.bid_px, a.bid_qty, a.ask_px, a.ask_qty, a.bids, a.asks) == (
        b.ts_ns,
        b.bid_px,
        b.bid_qty,
        b.ask_px,
        b.ask_qty,
        b.bids,
        b.asks,
    )


@pytest.mark.parametrize("depth", [1, 3, 10, 50])
@pytest.mark.parametrize("prices", [1000, 25])  # 25: most changes are new sizes at existing levels
def test_snapshots_match_a_book_rebuilt_from_scratch(depth: int, prices: int) -> None:
    rng = random.Random(depth * prices)
    book = L2Book()
    sides: tuple[dict[int, int], dict[int, int]] = ({}, {})
    for i in range(3000):
        op = rng.random()
        if op < 0.01:
            bids = [
                (rng.randrange(1, 1000) * 1_000_000, rng.randrange(0, 10**9))
                for _ in range(rng.randrange(30))
            ]
            asks = [
                (rng.randrange(1, 1000) * 1_000_000, rng.randrange(0, 10**9))
                for _ in range(rng.randrange(30))
            ]
            book.replace(bids, asks)
            sides = ({p: q for p, q in bids if q > 0}, {p: q for p, q in asks if q > 0})
        elif op < 0.02:
            side, keep = rng.randrange(2), rng.randrange(1, 20)
            book.truncate(side, keep)
            best = sorted(sides[side], reverse=side == BID)[:keep]
            for p in list(sides[side]):
                if p not in best:
                    del sides[side][p]
        elif op < 0.025:
            book.clear()
            sides = ({}, {})
        else:
            side, px = rng.randrange(2), rng.randrange(1, prices) * 1_000_000
            qty = rng.choice([0, rng.randrange(1, 10**9)])
            book.set(side, px, qty)
            if qty:
                sides[side][px] = qty
            else:
                sides[side].pop(px, None)
        if rng.random() < 0.7:  # not after every change: several changes between two snapshots
            assert same(book.snapshot(i, depth), reference(sides, i, depth))
            assert book.best(BID) == (max(sides[BID].items()) if sides[BID] else None)
            assert book.best(ASK) == (min(sides[ASK].items()) if sides[ASK] else None)
            for side in (BID, ASK):
                assert book.depth(side) == len(sides[side])
                assert book.size(side, px) == sides[side].get(px, 0)


def test_unchanged_sides_are_the_same_tuples() -> None:
    book = L2Book()
    book.replace([(p * 10, 1) for p in range(1, 30)], [(p * 10, 1) for p in range(40, 70)])
    first = book.snapshot(1, 10)
    book.set(BID, 15, 5)  # far below the best ten bids
    book.set(ASK, 690, 5)  # far above the best ten asks
    second = book.snapshot(2, 10)
    assert second.bids is first.bids and second.asks is first.asks
    book.set(BID, 295, 5)  # a new best bid
    third = book.snapshot(3, 10)
    assert third.asks is first.asks and third.bids[0] == (295, 5)
    assert book.snapshot(4, 5).bids == third.bids[:5]  # another depth is built for that depth
