"""Kraken spot: the WebSocket v2 `book` feed (`venues.kraken.feed`) and the public AssetPairs
catalogue (`venues.kraken.catalogue`). No Django here."""
