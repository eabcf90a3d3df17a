"""`L2Book` against a book rebuilt from scratch after every change: its kept best levels must never
go stale, whatever mix of changes (inside the kept levels, beyond them, on the other side) came.

Both classes: `PyL2Book`, the reference, and `NativeL2Book` (venues/live/native/l2book.c), which is
also run against the reference change by change (every answer, and the identity of the kept tuples
a consumer compares)."""

from __future__ import annotations

import os
import random

import pytest

from venues.book import BookSnapshot
from venues.live.book import ASK, BID, L2Book, NativeL2Book, PyL2Book, native_books

CLASSES = [pytest.param(PyL2Book, id="python"), pytest.param(NativeL2Book, id="native")]


def test_the_native_book_is_built_and_used() -> None:
    """`make venv` builds the extension; a checkout that lost it would quietly run the Python book."""
    assert NativeL2Book is not None
    wanted = os.environ.get("SEQUENCE_NATIVE_FEED", "1") != "0"  # the switch, read at import
    assert native_books() is wanted
    assert L2Book is (NativeL2Book if wanted else PyL2Book)


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


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("depth", [1, 3, 10, 50])
@pytest.mark.parametrize("prices", [1000, 25])  # 25: most changes are new sizes at existing levels
def test_snapshots_match_a_book_rebuilt_from_scratch(cls: type[PyL2Book], depth: int, prices: int) -> None:
    rng = random.Random(depth * prices)
    book = cls()
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


@pytest.mark.parametrize("cls", CLASSES)
def test_unchanged_sides_are_the_same_tuples(cls: type[PyL2Book]) -> None:
    book = cls()
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


def _state(book: PyL2Book, depth: int) -> tuple[object, ...]:
    return (
        book.levels(BID, 1000),
        book.levels(ASK, 1000),
        book.best(BID),
        book.best(ASK),
        book.best_prices(),
        book.crossed,
        book.depth(BID),
        book.depth(ASK),
        book.levels(BID, depth),
        book.levels(ASK, depth),
    )


@pytest.mark.parametrize("seed", range(6))
def test_the_native_book_answers_as_the_python_book(seed: int) -> None:
    """Change by change on both classes: the same answers, and `top` hands back the same tuple as
    last time exactly when the Python book does (a C book that kept a tuple the Python one rebuilt
    would hand a consumer a stale side; one that rebuilt more would only cost time, but the rule is
    the same, so it is held to it)."""
    rng = random.Random(seed)
    py, c = PyL2Book(), NativeL2Book()
    last_py: list[object] = [None, None]
    last_c: list[object] = [None, None]
    depth = rng.choice([1, 5, 10])
    span = rng.choice([12, 60, 400])
    for _ in range(4000):
        op = rng.random()
        if op < 0.02:
            # a snapshot in any order, zero sizes and repeated prices included (the last one wins),
            # as tuples or as lists
            def side() -> list[object]:
                out: list[object] = []
                for _ in range(rng.randrange(25)):
                    lv = (rng.randrange(1, span) * 1_000, rng.choice([0, rng.randrange(1, 10**6)]))
                    out.append(list(lv) if rng.random() < 0.3 else lv)
                return out

            bids, asks = side(), side()
            py.replace(bids, asks)  # type: ignore[arg-type]
            c.replace(bids, asks)
        elif op < 0.03:
            s, keep = rng.randrange(2), rng.randrange(1, 15)
            py.truncate(s, keep)
            c.truncate(s, keep)
        elif op < 0.035:
            py.clear()
            c.clear()
        elif op < 0.25:
            s, px, delta = rng.randrange(2), rng.randrange(1, span) * 1_000, rng.randrange(-300, 300)
            py.add(s, px, delta)
            c.add(s, px, delta)
        else:
            s, px = rng.randrange(2), rng.randrange(1, span) * 1_000
            qty = rng.choice([0, rng.randrange(1, 10**6), 10**30])  # a size past 64 bits stays exact
            py.set(s, px, qty)
            c.set(s, px, qty)
        if rng.random() < 0.05:
            depth = rng.choice([1, 5, 10])
        assert _state(c, depth) == _state(py, depth)
        px = rng.randrange(1, span) * 1_000
        assert c.size(BID, px) == py.size(BID, px) and c.size(ASK, px) == py.size(ASK, px)
        if rng.random() < 0.6:
            for s in (BID, ASK):
                t_py, t_c = py.top(s, depth), c.top(s, depth)
                assert t_c == t_py
                assert (t_c is last_c[s]) == (t_py is last_py[s])
                last_py[s], last_c[s] = t_py, t_c
            assert c.snapshot(7, depth).bids == py.snapshot(7, depth).bids


def test_the_native_book_refuses_what_it_cannot_hold() -> None:
    book = NativeL2Book()
    with pytest.raises(ValueError):
        book.set(2, 100, 1)  # no such side
    with pytest.raises(ValueError):
        book.set(BID, 2**63, 1)  # a price past 63 bits (a venue price x1e9 is nine orders below)
    with pytest.raises(TypeError):
        book.set(BID, "100", 1)
    with pytest.raises(ValueError):
        book.replace([(100, 1, 2)], [])
    assert book.depth(BID) == 0 and book.size(BID, 2**64) == 0
    # Prices and sizes are exact ints, what every feed parses text to: so no Python code (a size's
    # __gt__, __add__ or __del__) runs while a side is changed. The Python class takes any number.
    for price, size in ((100, 1.5), (100, "1"), (100, True), (100.0, 1), (True, 1)):
        with pytest.raises(TypeError):
            book.set(BID, price, size)
    with pytest.raises(TypeError):
        book.add(BID, 100, 1.5)
    book.replace([(100, 5), [90, 2]], [(110, 1)])  # a level as a list is kept as a tuple
    before = (book.levels(BID, 10), book.levels(ASK, 10))
    assert before == ([(100, 5), (90, 2)], [(110, 1)])
    for bad in ([(100, 5), (95, 1.5)], [(100, 5), "x"], [(100, 5), (2**63, 1)], 5):
        with pytest.raises((TypeError, ValueError)):
            book.replace(bad, [(120, 1)])  # type: ignore[arg-type]
        assert (book.levels(BID, 10), book.levels(ASK, 10)) == before  # a bad side changes nothing


@pytest.mark.parametrize("cls", CLASSES)
def test_a_top_of_no_levels_survives_changes(cls: type[PyL2Book]) -> None:
    book = cls()
    assert book.top(BID, 0) == ()
    book.set(BID, 100, 1)  # the Python class indexed the last kept level of an empty top here
    book.set(BID, 100, 0)
    assert book.top(BID, 0) == () and book.top(BID, 1) == ()


@pytest.mark.parametrize("cls", CLASSES)
def test_a_snapshot_whose_asks_are_bad_leaves_no_stale_top_of_its_bids(cls: type[PyL2Book]) -> None:
    book = cls()
    book.replace([(100, 1)], [(110, 1)])
    assert book.top(BID, 5) == ((100, 1),)
    with pytest.raises((TypeError, ValueError)):
        book.replace([(101, 2)], [(111, "x")])  # type: ignore[list-item]
    assert book.top(BID, 5) == ((101, 2),) == tuple(book.levels(BID, 5))
