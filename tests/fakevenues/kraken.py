"""A strict local Kraken: WebSocket v2 `book` channel at /v2 and REST `GET /0/public/AssetPairs`;
the private REST API and the authenticated WebSocket `executions` channel (tests/fakevenues/
kraken_private.py).

Built from Kraken's documents and captures in /work/shared/venues/kraken/ (NOTES.md, PROVENANCE.md):

- On connect: a `status` update (shape of the captured message in ws_v2_captured_messages.jsonl).
- `subscribe`/`unsubscribe` (docs "Book (Level 2)", https://docs.kraken.com/api/docs/websocket-v2/book):
  `params.channel` "book", `params.symbol` a non-empty LIST of v2 names, `depth` one of
  10/25/100/500/1000 (default 10), `snapshot` a bool (default true), `req_id` an integer. One ack
  per symbol; an unknown pair gets its own error with `"symbol"` and the docs-quoted text
  "Currency pair not supported <symbol>" (a v1 name such as XBT/USD included); the rest of the
  request still goes through. Errors have the captured shape {"error","method","req_id",
  "success":false,"time_in","time_out"}.
  Kraken documents no text for a bad depth, a missing params/symbol, another channel, a repeated
  subscribe or an unsubscribe of nothing; this fake answers those with the error texts in
  `ERRORS` below (chosen here, marked as such) and the connector never keys on them.
- `ping` → `pong` with the req_id; a ping with `params` → the captured error "Unsupported field:
  'params' for the given msg type: ping". An unknown method → "Unsupported event" (captured text).
- Book: a snapshot of the top `depth` levels, then updates holding only the levels that changed
  within the subscribed depth (a level that enters the window is sent; a level pushed out is not),
  numbers written at the pair's precision with their trailing zeros (as Kraken sends them), and a
  CRC32 of the top 10 levels computed here independently from the decimal text (the checksum guide).
- `{"channel":"heartbeat"}` every `heartbeat_s` on a connection with a subscription.
- The real BTC/USD capture (ws_v2_book_capture_btcusd.jsonl) seeds BTC/USD; `play_capture(n)` sends
  its next n updates verbatim, keeping the fake's own book in step so a resubscribe gets a snapshot
  the later capture updates apply to. The checksum sent is the fake's own book's, as the venue's is
  its own: the capture's while nothing else changed the book, another once a test did.
- Faults: `corrupt_next_checksum`, `send_crossed`, and from the base: `inject` (malformed JSON),
  `disconnect_all`, `set_silent`, `fail_http` (429).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakevenues.base import FakeVenueServer
from tests.fakevenues.kraken_private import AUTH_WS_PATH, PrivateKraken

SHARED = Path("/work/shared/venues/kraken")
FIXTURES = Path(__file__).with_name("fixtures") / "kraken"

DEPTHS = (10, 25, 100, 500, 1000)

# Texts Kraken does not document (see the module docstring): chosen here.
ERRORS = {
    "depth": "EGeneral:Invalid arguments:depth",
    "symbol": "EGeneral:Invalid arguments:symbol",
    "params": "EGeneral:Invalid arguments:params",
    "channel": "Subscription channel not supported by this fake",
    "snapshot": "EGeneral:Invalid arguments:snapshot",
    "req_id": "EGeneral:Invalid arguments:req_id",
    "already": "Already subscribed",
    "not_subscribed": "Subscription Not Found",
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Pair:
    """One tradable pair: its AssetPairs entry and the fake's full book (Decimal → Decimal)."""

    symbol: str  # v2
    rest_name: str
    entry: dict[str, Any]
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)

    @property
    def pd(self) -> int:
        return int(self.entry["pair_decimals"])

    @property
    def ld(self) -> int:
        return int(self.entry["lot_decimals"])

    def top(self, depth: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """(bids high→low, asks low→high), `depth` each."""
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])[:depth]
        asks = sorted(self.asks.items())[:depth]
        return bids, asks

    def fmt(self, px: Decimal, qty: Decimal) -> tuple[str, str]:
        return f"{px:.{self.pd}f}", f"{qty:.{self.ld}f}"

    def checksum(self, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]]) -> int:
        """The guide's algorithm on decimal text: '.' removed, leading zeros removed, asks then bids."""
        text = ""
        for px, qty in asks[:10] + bids[:10]:
            p, q = self.fmt(px, qty)
            text += p.replace(".", "").lstrip("0") + q.replace(".", "").lstrip("0")
        return zlib.crc32(text.encode())

    def levels_json(self, levels: list[tuple[Decimal, Decimal]]) -> str:
        # JSON numbers with the trailing zeros, as Kraken writes them (not floats)
        return "[" + ",".join('{{"price":{},"qty":{}}}'.format(*self.fmt(px, q)) for px, q in levels) + "]"


def asset_pairs_fixture() -> dict[str, dict[str, Any]]:
    """AssetPairs entries: the documented XXBTZUSD/XETHXXBT example (rest_doc_examples_api_specs.json)
    and an ETH/USD entry in the same shape (fixtures/kraken/asset_pairs_extra.json)."""
    doc = json.loads((SHARED / "rest_doc_examples_api_specs.json").read_text())["AssetPairs_response"]
    entries = dict(doc["result"])
    entries.update(json.loads((FIXTURES / "asset_pairs_extra.json").read_text())["result"])
    return entries


def _v2(wsname: str) -> str:
    base, quote = wsname.split("/")
    m = {"XBT": "BTC", "XDG": "DOGE"}
    return f"{m.get(base, base)}/{m.get(quote, quote)}"


@dataclass
class Sub:
    depth: int
    # what this client was last sent (its view), to send only what changed within its depth
    view_bids: dict[Decimal, Decimal] = field(default_factory=dict)
    view_asks: dict[Decimal, Decimal] = field(default_factory=dict)


class KrakenFake(PrivateKraken, FakeVenueServer):
    ws_path = "/v2"

    def __init__(self, *, heartbeat_s: float = 1.0) -> None:
        FakeVenueServer.__init__(self)
        PrivateKraken.__init__(self)
        self.heartbeat_s = heartbeat_s
        self.pairs: dict[str, Pair] = {}
        for rest_name, entry in asset_pairs_fixture().items():
            sym = _v2(entry["wsname"])
            self.pairs[sym] = Pair(sym, rest_name, entry)
        self.subs: dict[web.WebSocketResponse, dict[str, Sub]] = {}
        self.errors_sent: list[dict[str, Any]] = []
        self._corrupt: set[str] = set()
        self._hb_tasks: dict[web.WebSocketResponse, asyncio.Task[None]] = {}
        self._capture = [
            line for line in (SHARED / "ws_v2_book_capture_btcusd.jsonl").read_text().splitlines() if line
        ]
        self._capture_pos = 1  # line 0 is the snapshot
        # capture updates sent with the fake's own checksum instead of the capture's (its book was
        # changed by a test): 0 while the capture is played on the book it was recorded on
        self.capture_checksums_rewritten = 0
        self._load_capture_snapshot()
        self._seed("ETH/USD", mid=Decimal("3400.00"), step=Decimal("0.05"), levels=30)

    # -- book content ------------------------------------------------------------------------------
    def _load_capture_snapshot(self) -> None:
        snap = json.loads(self._capture[0], parse_float=Decimal)["data"][0]
        pair = self.pairs["BTC/USD"]
        pair.bids = {Decimal(lv["price"]): Decimal(lv["qty"]) for lv in snap["bids"]}
        pair.asks = {Decimal(lv["price"]): Decimal(lv["qty"]) for lv in snap["asks"]}

    def _seed(self, sym: str, *, mid: Decimal, step: Decimal, levels: int) -> None:
        pair = self.pairs[sym]
        for i in range(1, levels + 1):
            pair.bids[mid - step * i] = Decimal("0.5") + Decimal(i) / 10
            pair.asks[mid + step * (i - 1) + step] = Decimal("0.4") + Decimal(i) / 10

    # -- REST ----------------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/0/public/AssetPairs", self._asset_pairs)
        app.router.add_post("/0/private/{method}", self._private)
        app.router.add_get(AUTH_WS_PATH, self._auth_ws_handler)

    async def _asset_pairs(self, request: web.Request) -> web.Response:
        wanted = request.query.get("pair")
        result = {p.rest_name: p.entry for p in self.pairs.values()}
        if wanted:
            picked = {}
            for name in wanted.split(","):
                hit = [p for p in self.pairs.values() if name in (p.rest_name, p.entry.get("altname"))]
                if not hit:  # Kraken answers 200 with an error array (support "API Error Codes")
                    return web.json_response({"error": ["EQuery:Unknown asset pair"]})
                picked[hit[0].rest_name] = hit[0].entry
            result = picked
        return web.json_response({"error": [], "result": result})

    # -- WebSocket ----------------------------------------------------------------------------------
    async def _send_json(self, ws: web.WebSocketResponse, obj: dict[str, Any]) -> None:
        await self.send(ws, json.dumps(obj, separators=(",", ":")))

    async def _error(
        self, ws: web.WebSocketResponse, method: str, req_id: Any, text: str, **extra: Any
    ) -> None:
        body = {
            "error": text,
            "method": method,
            **extra,
            "success": False,
            "time_in": _now(),
            "time_out": _now(),
        }
        if req_id is not None:
            body["req_id"] = req_id
        self.errors_sent.append(body)
        await self._send_json(ws, body)

    async def _greet(self, ws: web.WebSocketResponse) -> None:
        """What Kraken sends first on every connection (the captured status update)."""
        self.subs[ws] = {}
        await self._send_json(
            ws,
            {
                "channel": "status",
                "data": [
                    {
                        "api_version": "v2",
                        "connection_id": 12393906104898154338,
                        "system": "online",
                        "version": "2.0.4",
                    }
                ],
                "type": "update",
            },
        )

    async def on_message(self, ws: web.WebSocketResponse, data: str) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            self.received.append(data)
            await self._error(ws, "error", None, "Malformed request")
            return
        self.received.append(msg)
        if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
            await self._error(ws, "error", None, "Malformed request")
            return
        method, req_id = msg["method"], msg.get("req_id")
        if req_id is not None and (type(req_id) is not int or req_id < 0):
            await self._error(ws, method, None, ERRORS["req_id"])
            return
        if method == "ping":
            if "params" in msg:
                await self._error(
                    ws, "ping", req_id, "Unsupported field: 'params' for the given msg type: ping"
                )
                return
            pong = {"method": "pong", "time_in": _now(), "time_out": _now()}
            if req_id is not None:
                pong["req_id"] = req_id
            await self._send_json(ws, pong)
            return
        if method not in ("subscribe", "unsubscribe"):
            await self._error(ws, method, req_id, "Unsupported event")
            return
        params = msg.get("params")
        if not isinstance(params, dict):
            await self._error(ws, method, req_id, ERRORS["params"])
            return
        if params.get("channel") != "book":
            await self._error(ws, method, req_id, ERRORS["channel"])
            return
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
            await self._error(ws, method, req_id, ERRORS["symbol"])
            return
        depth = params.get("depth", 10)
        if type(depth) is not int or depth not in DEPTHS:
            await self._error(ws, method, req_id, ERRORS["depth"])
            return
        snapshot = params.get("snapshot", True)
        if type(snapshot) is not bool:
            await self._error(ws, method, req_id, ERRORS["snapshot"])
            return
        subs = self.subs[ws]
        for sym in symbols:
            if sym not in self.pairs:
                await self._error(ws, method, req_id, f"Currency pair not supported {sym}", symbol=sym)
                continue
            if method == "subscribe":
                if sym in subs:
                    await self._error(ws, method, req_id, ERRORS["already"], symbol=sym)
                    continue
                await self._ack(ws, method, req_id, sym, depth, snapshot)
                sub = subs[sym] = Sub(depth)
                if snapshot:
                    await self._send_snapshot(ws, sym, sub)
                self._ensure_heartbeat(ws)
            else:
                if sym not in subs:
                    await self._error(ws, method, req_id, ERRORS["not_subscribed"], symbol=sym)
                    continue
                del subs[sym]
                await self._ack(ws, method, req_id, sym, depth, None)

    async def _ack(
        self, ws: web.WebSocketResponse, method: str, req_id: Any, sym: str, depth: int, snap: Any
    ) -> None:
        result: dict[str, Any] = {"channel": "book", "depth": depth, "symbol": sym}
        if snap is not None:
            result["snapshot"] = snap
        body = {"method": method, "result": result, "success": True, "time_in": _now(), "time_out": _now()}
        if req_id is not None:
            body["req_id"] = req_id
        await self._send_json(ws, body)

    async def _send_snapshot(self, ws: web.WebSocketResponse, sym: str, sub: Sub) -> None:
        pair = self.pairs[sym]
        bids, asks = pair.top(sub.depth)
        sub.view_bids, sub.view_asks = dict(bids), dict(asks)
        text = (
            f'{{"channel":"book","type":"snapshot","data":[{{"symbol":"{sym}","bids":{pair.levels_json(bids)},'
            f'"asks":{pair.levels_json(asks)},"checksum":{pair.checksum(bids, asks)}}}]}}'
        )
        await self.send(ws, text)

    def _ensure_heartbeat(self, ws: web.WebSocketResponse) -> None:
        if ws in self._hb_tasks:
            return

        async def beat() -> None:
            while not ws.closed:
                await asyncio.sleep(self.heartbeat_s)
                await self.send(ws, '{"channel":"heartbeat"}')

        self._hb_tasks[ws] = asyncio.ensure_future(beat())

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        # the base handler, plus the status greeting right after the handshake
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        self.connections += 1
        self.clients.add(ws)
        try:
            await self._greet(ws)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self.on_message(ws, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self.clients.discard(ws)
            self.subs.pop(ws, None)
            task = self._hb_tasks.pop(ws, None)
            if task is not None:
                task.cancel()
        return ws

    # -- driving the book (from the test thread) ------------------------------------------------------
    def update(self, sym: str, *, bids: list[tuple[str, str]] = (), asks: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
        """Change the fake's book (qty "0" removes a level) and send every subscriber what changed
        within its depth, with the checksum."""
        self.call(self._update, sym, list(bids), list(asks))

    async def _update(self, sym: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        pair = self.pairs[sym]
        for book, levels in ((pair.bids, bids), (pair.asks, asks)):
            for px, qty in levels:
                p, q = Decimal(px), Decimal(qty)
                if q == 0:
                    book.pop(p, None)
                else:
                    book[p] = q
        for ws, subs in list(self.subs.items()):
            sub = subs.get(sym)
            if sub is None:
                continue
            new_bids, new_asks = pair.top(sub.depth)
            changes = []
            for old, new in ((sub.view_bids, dict(new_bids)), (sub.view_asks, dict(new_asks))):
                side = [(p, q) for p, q in new.items() if old.get(p) != q]
                # a level removed from the book itself is announced with qty 0; one merely pushed
                # out of the window by an insert is not (the client truncates)
                book = pair.bids if old is sub.view_bids else pair.asks
                side += [(p, Decimal(0)) for p in old if p not in new and p not in book]
                changes.append(side)
            sub.view_bids, sub.view_asks = dict(new_bids), dict(new_asks)
            if not changes[0] and not changes[1]:
                continue
            checksum = pair.checksum(new_bids, new_asks)
            if sym in self._corrupt:
                self._corrupt.discard(sym)
                checksum ^= 0x5A5A5A5A
            await self.send(ws, self._update_text(pair, changes[0], changes[1], checksum))

    def _update_text(self, pair: Pair, bids: list, asks: list, checksum: int) -> str:
        return (
            f'{{"channel":"book","type":"update","data":[{{"symbol":"{pair.symbol}",'
            f'"bids":{pair.levels_json(bids)},"asks":{pair.levels_json(asks)},"checksum":{checksum},'
            f'"timestamp":"{_now()}"}}]}}'
        )

    def play_capture(self, n: int) -> int:
        """Send the next `n` BTC/USD updates of the real capture verbatim (to depth-10 subscribers)
        and apply them to the fake's book; returns how many were sent."""
        return self.call(self._play, n)

    async def _play(self, n: int) -> int:
        pair = self.pairs["BTC/USD"]
        sent = 0
        while sent < n and self._capture_pos < len(self._capture):
            line = self._capture[self._capture_pos]
            self._capture_pos += 1
            item = json.loads(line, parse_float=Decimal)["data"][0]
            for book, key in ((pair.bids, "bids"), (pair.asks, "asks")):
                for lv in item[key]:
                    p, q = Decimal(lv["price"]), Decimal(lv["qty"])
                    if q == 0:
                        book.pop(p, None)
                    else:
                        book[p] = q
            # the capture is a depth-10 stream: the fake's book is exactly that view
            top_b, top_a = pair.top(10)
            pair.bids, pair.asks = dict(top_b), dict(top_a)
            # The venue's checksum is of its own book. Once a test changed the fake's book (`update`),
            # the capture's checksum is another book's: the fake sends its own, as Kraken would.
            own = pair.checksum(top_b, top_a)
            if own != int(item["checksum"]):
                self.capture_checksums_rewritten += 1
                line = line.replace(f'"checksum":{item["checksum"]}', f'"checksum":{own}')
            if "BTC/USD" in self._corrupt:
                self._corrupt.discard("BTC/USD")
                line = line.replace(f'"checksum":{own}', f'"checksum":{own ^ 0x5A5A5A5A}')
            for ws, subs in list(self.subs.items()):
                sub = subs.get("BTC/USD")
                if sub is not None:
                    sub.view_bids, sub.view_asks = dict(top_b), dict(top_a)
                    await self.send(ws, line)
            sent += 1
        return sent

    # -- faults ----------------------------------------------------------------------------------------
    def corrupt_next_checksum(self, sym: str) -> None:
        """The next update of `sym` carries a wrong checksum (its levels are right)."""
        self._corrupt.add(sym)

    def send_crossed(self, sym: str) -> None:
        """Send subscribers an update that puts a bid above the best ask, with the checksum of that
        crossed book; the fake's own book stays sane, so a resubscribe heals the client."""
        self.call(self._crossed, sym)

    async def _crossed(self, sym: str) -> None:
        pair = self.pairs[sym]
        for ws, subs in list(self.subs.items()):
            sub = subs.get(sym)
            if sub is None:
                continue
            best_ask = min(sub.view_asks)
            crossing = (best_ask + Decimal(1).scaleb(-pair.pd), Decimal("1"))
            bids = dict(sub.view_bids)
            bids[crossing[0]] = crossing[1]
            top_b = sorted(bids.items(), key=lambda kv: -kv[0])[: sub.depth]
            top_a = sorted(sub.view_asks.items())
            await self.send(ws, self._update_text(pair, [crossing], [], pair.checksum(top_b, top_a)))

    def subscribed(self, sym: str) -> int:
        """How many connections are subscribed to `sym` now."""
        return sum(1 for subs in list(self.subs.values()) if sym in subs)

    def stop(self) -> None:
        for task in list(self._hb_tasks.values()):
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(task.cancel)
        super().stop()
