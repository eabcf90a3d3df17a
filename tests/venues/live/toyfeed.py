"""A tiny venue protocol and its fake server, to test the shared feed machinery on its own.

The protocol (JSON text frames):
- client → server: {"op": "subscribe", "symbols": [...]}; the server answers each symbol with
  {"type": "snapshot", "symbol", "seq", "bids": [[px, qty], ...], "asks": [...]} (decimal strings);
- server → client: {"type": "update", "symbol", "seq", "side": "bid"|"ask", "px", "qty"} with seq
  +1 per symbol (a gap → resubscribe that symbol), {"type": "error", "message"} (→ reconnect);
- a client may send the text "PING" (ping_interval_s), which the server counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson
from aiohttp import web

from tests.fakevenues.base import FakeVenueServer
from venues.instruments import to_price_1e9, to_qty_1e8
from venues.live.book import ASK, BID, L2Book
from venues.live.protocol import BookChanged, FeedEvent, FeedProtocol, Reconnect, Resync, Send


class ToyProtocol(FeedProtocol):
    venue: ClassVar[str] = "toy"
    silence_s: ClassVar[float] = 30.0

    def __init__(self, symbols: Sequence[str], *, ws_url: str, headers: dict[str, str] | None = None):
        super().__init__(symbols, ws_url=ws_url)
        self.books: dict[str, L2Book] = {}
        self.seqs: dict[str, int] = {}
        self.headers = headers or {}
        self.opens = 0

    def handshake_headers(self) -> dict[str, str]:
        return dict(self.headers)

    def on_open(self) -> list[str]:
        self.opens += 1
        self.books = {}
        self.seqs = {}
        return [orjson.dumps({"op": "subscribe", "symbols": list(self.symbols)}).decode()]

    def ping_frame(self) -> str | None:
        return "PING"

    def on_frame(self, data: str | bytes, recv_ns: int) -> list[FeedEvent]:
        try:
            msg = orjson.loads(data)
            kind = msg["type"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return [Reconnect("malformed")]
        if kind == "error":
            return [Reconnect("venue_error")]
        if kind == "boom":
            raise RuntimeError("a protocol bug")
        sym = msg["symbol"]
        if kind == "snapshot":
            book = self.books.setdefault(sym, L2Book())
            book.replace(
                [(to_price_1e9(p), to_qty_1e8(q)) for p, q in msg["bids"]],
                [(to_price_1e9(p), to_qty_1e8(q)) for p, q in msg["asks"]],
            )
            self.seqs[sym] = msg["seq"]
            return [BookChanged(sym, book.snapshot(recv_ns))]
        if kind == "update":
            book = self.books.get(sym)
            if book is None:
                return []  # waiting for the snapshot
            if msg["seq"] != self.seqs[sym] + 1:
                del self.books[sym]
                return [
                    Resync("gap", (sym,)),
                    Send(orjson.dumps({"op": "subscribe", "symbols": [sym]}).decode()),
                ]
            self.seqs[sym] = msg["seq"]
            book.set(BID if msg["side"] == "bid" else ASK, to_price_1e9(msg["px"]), to_qty_1e8(msg["qty"]))
            return [BookChanged(sym, book.snapshot(recv_ns))]
        return []


class ToyServer(FakeVenueServer):
    """Answers subscribes with snapshots and lets the test push updates."""

    def __init__(self) -> None:
        super().__init__()
        self.seq: dict[str, int] = {}
        self.pings = 0
        self.handshake_headers: list[dict[str, str]] = []
        self.refuse = False  # refuse the handshake with 401 while True

    async def on_connect(self, ws: web.WebSocketResponse, request: web.Request) -> bool:
        self.handshake_headers.append(dict(request.headers))
        return not self.refuse

    async def on_message(self, ws: web.WebSocketResponse, data: str) -> None:
        if data == "PING":
            self.pings += 1
            return
        msg = orjson.loads(data)
        self.received.append(msg)
        for sym in msg["symbols"]:
            self.seq[sym] = 100
            await self.send(
                ws,
                orjson.dumps(
                    {
                        "type": "snapshot",
                        "symbol": sym,
                        "seq": 100,
                        "bids": [["100.0", "1"], ["99.5", "2"]],
                        "asks": [["100.5", "1.5"]],
                    }
                ).decode(),
            )

    def update(self, sym: str, side: str, px: str, qty: str, *, skip: int = 0) -> None:
        """Broadcast the next update of `sym` (skip > 0 leaves a gap in seq)."""
        self.seq[sym] += 1 + skip
        frame: dict[str, Any] = {
            "type": "update",
            "symbol": sym,
            "seq": self.seq[sym],
            "side": side,
            "px": px,
            "qty": qty,
        }
        self.inject(orjson.dumps(frame).decode())

    def burst(self, sym: str, n: int) -> None:
        """n updates of the bid size in one go (sizes 1..n)."""

        async def go() -> None:
            for i in range(1, n + 1):
                self.seq[sym] += 1
                await self.broadcast(
                    orjson.dumps(
                        {
                            "type": "update",
                            "symbol": sym,
                            "seq": self.seq[sym],
                            "side": "bid",
                            "px": "100.0",
                            "qty": str(i),
                        }
                    ).decode()
                )

        self.call(go)
