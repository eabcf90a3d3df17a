"""What every live venue feed shares: the sans-I/O protocol contract, the level-2 book, and (next to
them) the connection loop that drives a protocol over a real WebSocket.

Each venue package (`venues.kraken`, `venues.coinbase`, `venues.kalshi`, `venues.polymarket`)
implements `venues.live.protocol.FeedProtocol` for its public market-data protocol: it turns the
venue's frames into book changes and tells the loop when the book can no longer be trusted. The
protocol code does no I/O and reads no clock, so the captures in the tests and the benchmarks drive
it directly. No Django here.
"""
