"""The Parquet store: recorder, CSV import, simulated days (no database)."""

from __future__ import annotations

import io
import os
import time
from datetime import date

import pyarrow.parquet as pq
import pytest

from venues.book import BookSnapshot
from venues.instruments import get_instrument
from venues.marketdata.importer import ImportError_, parse_csv, parse_timestamp
from venues.marketdata.store import MarketDataStore, Recorder, day_bounds_ns
from venues.sim.simulator import MarketSimulator


def test_recorder_writes_per_day_segments_that_read_back_identical(tmp_path):
    inst = get_instrument("coinbase", "ETH/USD")
    start = day_bounds_ns(date(2026, 2, 1))[1] - 10_000_000_000  # ten seconds before midnight
    snaps = list(MarketSimulator(inst, 1, start).generate(start, start + 20_000_000_000))
    assert len(snaps) > 10
    rec = Recorder(tmp_path, venue="coinbase", flush_rows=3)
    for snap in snaps:
        rec.record("ETH/USD", snap)
    rec.close()
    store = MarketDataStore(tmp_path)
    back = []
    for day in (date(2026, 2, 1), date(2026, 2, 2)):
        data = store.day_data("coinbase", "ETH/USD", day, seed=0)
        assert data.source == "recorded" and data.paths
        table = store.read_day(data)
        for row in table.to_pylist():
            bids = tuple((row[f"bid_px_{i}"], row[f"bid_qty_{i}"]) for i in range(5) if row[f"bid_px_{i}"])
            asks = tuple((row[f"ask_px_{i}"], row[f"ask_qty_{i}"]) for i in range(5) if row[f"ask_px_{i}"])
            back.append(BookSnapshot(row["ts_ns"], bids, asks))
    assert [(s.ts_ns, s.bids[:5], s.asks[:5]) for s in snaps] == [(s.ts_ns, s.bids, s.asks) for s in back]
    assert all(p.name.startswith("rec-") for p in rec.files_written)


def test_simulated_day_is_generated_once_and_is_deterministic(tmp_path):
    inst = get_instrument("kraken", "ETH/USDC")
    a, b = MarketDataStore(tmp_path / "a"), MarketDataStore(tmp_path / "b")
    day = date(2026, 1, 5)
    path = a.ensure_simulated(inst, day, 42)
    mtime = path.stat().st_mtime_ns
    assert a.ensure_simulated(inst, day, 42) == path and path.stat().st_mtime_ns == mtime  # cached
    assert pq.read_table(path).equals(pq.read_table(b.ensure_simulated(inst, day, 42)))
    assert not pq.read_table(path).equals(pq.read_table(a.ensure_simulated(inst, day, 43)))
    table = pq.read_table(path)
    start, end = day_bounds_ns(day)
    ts = table.column("ts_ns").to_pylist()
    assert ts[0] == start and ts[-1] < end and ts == sorted(ts)
    assert 20_000 < table.num_rows < 30_000  # kraken ETH/USDC: ~25,000 updates a day


def test_csv_import_parses_exactly_and_rejects_bad_lines(tmp_path):
    table = parse_csv(io.StringIO(
        "timestamp,bid_px,bid_qty,ask_px,ask_qty,bid_px_1,bid_qty_1\n"
        "1772409601.5,100.01,0.5,100.02,1.25,100.00,3\n"
        "2026-03-02T00:00:02Z,,,100.02,1,,\n"
    ))  # fmt: skip
    rows = table.to_pylist()
    assert rows[0]["ts_ns"] == 1_772_409_601_500_000_000 and rows[0]["bid_px_0"] == 100_010_000_000
    assert rows[0]["ask_qty_0"] == 125_000_000 and rows[0]["bid_px_1"] == 100_000_000_000
    assert rows[1]["ts_ns"] == parse_timestamp("1772409602000") and rows[1]["bid_px_0"] == 0
    with pytest.raises(ImportError_, match="line 2: crossed book"):
        parse_csv(io.StringIO("timestamp,bid_px,bid_qty,ask_px,ask_qty\n1,2,1,1,1\n"))
    with pytest.raises(ImportError_, match="missing column"):
        parse_csv(io.StringIO("ts,bid\n1,2\n"))
    with pytest.raises(ImportError_, match="line 3"):
        parse_csv(io.StringIO("timestamp,bid_px,bid_qty,ask_px,ask_qty\n1,1,1,2,1\nnope,1,1,2,1\n"))


def test_the_replay_block_of_a_day_holds_its_events_and_follows_new_segments(tmp_path):
    # The replay reads a day from its block (one uncompressed Arrow IPC batch, written on first
    # use): the same events as the Parquet segments, nulls as 0; a new segment makes a new block.
    inst = get_instrument("coinbase", "ETH/USD")
    day = date(2026, 2, 1)
    start = day_bounds_ns(day)[0]
    snaps = list(MarketSimulator(inst, 1, start).generate(start, start + 30_000_000_000))
    rec = Recorder(tmp_path, venue="coinbase", flush_rows=10_000)
    for snap in snaps[:20]:
        rec.record("ETH/USD", snap)
    rec.close()
    store = MarketDataStore(tmp_path)
    data = store.day_data("coinbase", "ETH/USD", day, seed=0)
    block = store.block_table(data)
    first = store.block_path(data)
    assert first is not None and first.exists() and first.name.startswith(".block-")
    assert block.equals(store.read_day(data))
    assert all(column.num_chunks == 1 for column in block.columns)
    for snap in snaps[20:]:
        rec.record("ETH/USD", snap)
    rec.close()
    data = store.day_data("coinbase", "ETH/USD", day, seed=0)
    assert len(data.paths) == 2
    block = store.block_table(data)
    assert block.num_rows == len(snaps) and block.equals(store.read_day(data))
    assert store.block_path(data) != first and not first.exists()
    # a simulated day's block sits beside its Parquet file
    sim = store.day_data("coinbase", "ETH/USD", date(2026, 2, 3), seed=5)
    assert not sim.paths
    store.ensure_simulated(inst, date(2026, 2, 3), 5)
    sim = store.day_data("coinbase", "ETH/USD", date(2026, 2, 3), seed=5)
    assert store.block_table(sim).equals(store.read_day(sim))
    assert store.block_path(sim) == sim.paths[0].with_name("2026-02-03.block.arrow")


def test_a_cold_block_is_the_parquet_decoded_once_and_a_warm_one_is_mapped(tmp_path):
    # Cold: the day is decoded from Parquet, written as a block and handed over from memory; warm:
    # the same events from the mapped block. Segments with missing levels still read as 0.
    store = MarketDataStore(tmp_path)
    store.import_table(
        "coinbase",
        "ETH/USD",
        parse_csv(
            io.StringIO(
                "timestamp,bid_px,bid_qty,ask_px,ask_qty\n1772409601,100,1,101,2\n1772409602,,,101,1\n"
            )
        ),
    )
    data = store.day_data("coinbase", "ETH/USD", date(2026, 3, 2), seed=0)
    cold = store.block_table(data)
    assert store.blocks_written == 1
    warm = store.block_table(data)
    assert store.blocks_written == 1 and cold.equals(warm)
    assert warm.column("bid_px_0").to_pylist() == [100_000_000_000, 0]
    assert warm.column("bid_px_1").null_count == 0 and warm.column("bid_px_1").to_pylist() == [0, 0]
    assert all(c.num_chunks == 1 for c in cold.columns + warm.columns)


def test_replay_blocks_are_a_bounded_cache_the_least_recently_replayed_go_first(tmp_path):
    inst = get_instrument("coinbase", "ETH/USD")
    days = [date(2026, 2, 1), date(2026, 2, 2), date(2026, 2, 3)]
    rec = Recorder(tmp_path, venue="coinbase")
    for day in days:
        start = day_bounds_ns(day)[0]
        for snap in MarketSimulator(inst, 1, start).generate(start, start + 5_000_000_000):
            rec.record("ETH/USD", snap)
    rec.close()
    store = MarketDataStore(tmp_path)
    data = [store.day_data("coinbase", "ETH/USD", day, seed=0) for day in days]
    tables = [store.block_table(d) for d in data]
    assert store.blocks_written == 3
    paths = [store.block_path(d) for d in data]
    assert all(p is not None and p.exists() for p in paths)
    sizes = [p.stat().st_size for p in paths if p is not None]
    for k, p in enumerate(paths):  # written an hour, two, three ago: day 0 is the oldest
        assert p is not None
        os.utime(p, (time.time() - 3_600 * (3 - k),) * 2)
    assert store.block_table(data[0]).equals(tables[0])  # replaying day 0 makes it the most recent
    dead = tmp_path / "coinbase" / "ETH-USD" / ".tmp-dead.arrow"  # a writer that died an hour ago
    dead.write_bytes(b"x" * 100)
    os.utime(dead, (time.time() - 7_200,) * 2)
    fresh = tmp_path / "coinbase" / "ETH-USD" / ".tmp-writing.arrow"  # a writer at work
    fresh.write_bytes(b"y")

    removed, kept = store.trim_blocks(sizes[0] + sizes[2])
    assert (removed, kept) == (2, sizes[0] + sizes[2])  # day 1's block and the dead temporary file
    assert [p is not None and p.exists() for p in paths] == [True, False, True]
    assert not dead.exists() and fresh.exists()
    assert all(p.exists() for d in data for p in d.paths)  # the Parquet files are the data: kept
    assert store.trim_blocks(10**12) == (0, sizes[0] + sizes[2])  # within budget: nothing goes

    # a removed block is rebuilt from the Parquet files on its next replay, with the same events
    assert store.block_table(data[1]).equals(tables[1]) and store.blocks_written == 4
    assert store.trim_blocks(0) == (3, 0) and not any(p is not None and p.exists() for p in paths)
