"""Coinbase Advanced Trade (spot): the public `level2` market-data protocol (`feed.CoinbaseFeed`,
sans-I/O, with `heartbeats`), the public REST product catalogue (`catalogue`) and the mapping
between Coinbase product ids and our canonical symbols (`products`). The order half comes next.
No Django here.
"""
