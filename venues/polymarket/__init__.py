"""Polymarket: the CLOB market channel (`feed.PolymarketFeed`, sans-I/O) and the Gamma/CLOB market
catalogue (`catalogue`). Outcome tokens are our instruments; their canonical symbol is the CLOB
token id. No Django here."""
