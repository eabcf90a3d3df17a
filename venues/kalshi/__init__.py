"""Kalshi (trade API v2): API-key signing (`auth`), the `orderbook_delta` market-data protocol
(`feed`: YES and NO books derived from Kalshi's bids-only ladders) and the public market/event
catalogue (`catalogue`). The order half comes next. No Django here.
"""
