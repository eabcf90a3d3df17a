"""Strict local stand-ins for the real venues (Kraken, Coinbase, Kalshi, Polymarket).

No machine here reaches a venue, so each module serves that venue's documented WebSocket and REST
protocol on 127.0.0.1 from real message fixtures (each fixture says which documentation page or
capture it follows), refuses what the real venue refuses (a bad subscribe message, a missing
field, a bad signature), and can be told to misbehave: a sequence gap, a bad checksum, a crossed
book, malformed JSON, a burst, silence, a dropped connection, HTTP 429. The connectors take their
base URLs from settings and never know which they talk to. `base.FakeVenueServer` is the shared
server loop; one subclass per venue.
"""
