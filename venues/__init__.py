"""Venues: everything that speaks to a trading venue, simulated or real.

- `venues.book`, `venues.instruments`, `venues.symbols`: the shared book snapshot, instrument and
  symbol types (ABI units: price ×1e9, quantity ×1e8, PnL ×1e9; side 0 buy, 1 sell).
- `venues.matching`, `venues.accounting`: paper matching and positions, shared by sandbox edges
  and backtests.
- `venues.adapter`: `VenueAdapter`, the one interface an edge drives.
- `venues.sim`: the seeded simulator and `SimVenueAdapter`.
- `venues.<venue>` (kraken, coinbase, kalshi, polymarket): each venue's real protocol.
- `venues.marketdata`: the recorded market-data store (Parquet) the edges write and backtests read.

Pure Python with no Django imports, and nothing here imports an app (edges, backtests, trading):
the edge worker, the backtest replay loop and the benchmarks import it directly. Import the
submodule you need; this package itself loads nothing.
"""
