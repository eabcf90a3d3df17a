"""Recorded market data: the Parquet store the edges write what they see into and backtests read
back (`store`), and the CSV import into the same files (`importer`). No Django, no app: both the
edge worker and the backtest replay stand on it (docs/architecture.md)."""
