"""End-to-end hosted-strategy smoke (docs: spec "Your first hosted strategy").

1. Boot + log injected env (verifies runner injection works)
2. Health check the API
3. Discover an active Kalshi market via /v1/markets
4. Discover an active Polymarket market via /v1/markets?expand=outcomes
5. WS-subscribe to `prices:{symbol}` for each (raw stdlib socket — no `websockets` dep needed
   in the slim runner image)
6. Walk each book via /v1/quotes (top 5 bids + asks per side)
7. Submit one limit-buy graph per venue, deliberately priced below the market so it rests
   harmlessly and won't fill (Polymarket: enough shares for >= $1 notional, else it would rest
   forever anyway)
8. Sleep, then check graph status
9. Cancel both graphs
10. Exit 0
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import ssl
import struct
import sys
import time
import urllib.parse
from collections.abc import Iterator
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sequence_markets import Sequence, SequenceError


def log(event: str, **fields: Any) -> None:
    """One JSON line per logical event. Easy to grep in `strategy logs`."""
    rec = {"ts": round(time.time(), 3), "event": event, **fields}
    print(json.dumps(rec, default=str, sort_keys=False), flush=True)


# -- raw-stdlib websocket ---------------------------------------------------------------------------


def _send_frame(sock: socket.socket, payload: bytes, opcode: int = 0x1) -> None:
    """One masked client frame (RFC 6455: clients always mask)."""
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(head + mask + masked)


def _recv_exact(sock: socket.socket, buf: bytearray, n: int) -> bytes:
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("websocket closed by the server")
        buf += chunk
    out = bytes(buf[:n])
    del buf[:n]
    return out


def _recv_frame(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    b1, b2 = _recv_exact(sock, buf, 2)
    opcode, n = b1 & 0x0F, b2 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", _recv_exact(sock, buf, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", _recv_exact(sock, buf, 8))
    mask = _recv_exact(sock, buf, 4) if b2 & 0x80 else b""
    payload = _recv_exact(sock, buf, n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return opcode, payload


def ws_subscribe(
    base_url: str, api_key: str, channels: list[str], *, duration_s: float, max_msgs: int
) -> Iterator[dict[str, Any]]:
    """Open a WS to /v1/stream, subscribe to `channels`, yield decoded JSON messages. Bounded by
    both `duration_s` and `max_msgs` so the strategy never streams indefinitely."""
    url = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/v1/stream"
    parsed = urllib.parse.urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "wss" else 80)
    raw = socket.create_connection((parsed.hostname, port), timeout=15)
    sock = (
        ssl.create_default_context().wrap_socket(raw, server_hostname=parsed.hostname)
        if parsed.scheme == "wss"
        else raw
    )
    sock.settimeout(2)
    key = base64.b64encode(os.urandom(16)).decode()
    host = parsed.hostname if parsed.port is None else f"{parsed.hostname}:{parsed.port}"
    sock.sendall(
        "\r\n".join(
            [
                f"GET {parsed.path or '/'} HTTP/1.1",
                f"Host: {host}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
                f"Authorization: Bearer {api_key}",
                "",
                "",
            ]
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("WS handshake failed: connection closed")
        response += chunk
    if b" 101 " not in response.split(b"\r\n", 1)[0]:
        raise RuntimeError("WS handshake failed")
    buf = bytearray(response.split(b"\r\n\r\n", 1)[1])
    _send_frame(sock, json.dumps({"op": "subscribe", "channels": channels}).encode())
    deadline = time.monotonic() + duration_s
    count = 0
    try:
        while time.monotonic() < deadline and count < max_msgs:
            try:
                opcode, payload = _recv_frame(sock, buf)
            except TimeoutError:
                continue
            if opcode == 0x8:  # close
                return
            if opcode == 0x9:  # ping -> pong
                _send_frame(sock, payload, opcode=0xA)
                continue
            if opcode != 0x1:
                continue
            msg = json.loads(payload.decode())
            if msg.get("channel"):
                count += 1
            yield msg
    finally:
        with contextlib.suppress(OSError):
            _send_frame(sock, struct.pack("!H", 1000), opcode=0x8)
        sock.close()


# -- discovery: the YES/NO fallback ------------------------------------------------------------------


def _probe_two_sided(seq: Sequence, symbol: str) -> dict[str, Any] | None:
    """Return the quote dict if the book has a real bid > 0, else None."""
    try:
        q = seq.quote(symbol, depth=3)
    except SequenceError:
        return None
    bid = ((q or {}).get("nbbo") or {}).get("bid") or 0
    return q if bid > 0 else None


def find_kalshi_tradable(seq: Sequence) -> dict[str, Any] | None:
    r = seq.markets(venue="kalshi", limit=30, order="volume", active=True)
    for m in (r or {}).get("markets", []):
        if (m.get("liquidity") or 0) < 100:
            continue
        for side, token_field in (("yes", "yes_token_id"), ("no", "no_token_id")):
            tok = m.get(token_field)
            if tok and _probe_two_sided(seq, tok) is not None:
                return {**m, "_chosen_side": side, "_chosen_symbol": tok}
    return None


def find_polymarket_tradable(seq: Sequence) -> dict[str, Any] | None:
    # `expand=outcomes` flattens multi-outcome events (e.g. "World Cup Winner") into one row per
    # outcome with `yes_token_id` populated.
    r = seq.markets(venue="polymarket", limit=200, order="volume", active=True, expand="outcomes")
    for m in (r or {}).get("markets", []):
        if m.get("is_placeholder_outcome") or (m.get("liquidity") or 0) < 1000:
            continue
        tok = m.get("yes_token_id")
        if tok and _probe_two_sided(seq, tok) is not None:
            return {**m, "_chosen_side": "yes", "_chosen_symbol": tok}
    return None


def walk_book(seq: Sequence, venue: str, symbol: str, depth: int = 5) -> dict[str, Any]:
    """Log the top `depth` levels per side; return the quote."""
    q = seq.quote(symbol, depth=depth)
    nbbo = q.get("nbbo") or {}
    log("book", venue=venue, symbol=symbol[:40], bid=nbbo.get("bid"), ask=nbbo.get("ask"),
        bid_size=nbbo.get("bid_size"), ask_size=nbbo.get("ask_size"))  # fmt: skip
    for side in ("bids", "asks"):
        for i, level in enumerate(q.get(side) or []):
            log(
                "book_level",
                venue=venue,
                side=side,
                level=i,
                price=level.get("price"),
                size=level.get("size"),
            )
    return q


# -- orders -----------------------------------------------------------------------------------------


def safe_resting_price(best_bid: float, tick: float = 0.01) -> float:
    """Half of best_bid, rounded down to the market's tick, floored at one tick. A bid is at least
    one tick, so the price is never above the best bid and the order never crosses, even when
    half a 1¢ bid is below 1¢ (a 0.001-tick Polymarket market: a flat 1¢ floor would sit above a
    0.5¢ bid and could take the ask). Kalshi takes whole cents from Sequence, so its tick here is
    0.01 whatever the market's finer grid."""
    step = Decimal(str(tick))
    if best_bid is None or best_bid <= 0:
        return float(step)
    half = Decimal(str(best_bid)) / 2
    return float(max(step, (half / step).to_integral_value(rounding=ROUND_FLOOR) * step))


def order_tick(venue: str, quote: dict[str, Any]) -> float:
    """The tick a resting price is rounded to: the quote's `tick_size`, never finer than 1¢ on
    Kalshi (whole cents) and 0.001 when a quote does not say."""
    tick = float(quote.get("tick_size") or 0.001)
    return max(tick, 0.01) if venue == "kalshi" else tick


def submit_test_graph(
    seq: Sequence,
    venue: str,
    label: str,
    symbol: str,
    qty: float,
    best_bid: float,
    tick: float = 0.01,
    sandbox: bool | None = None,
) -> str | None:
    price = safe_resting_price(best_bid, tick)
    if venue == "polymarket":
        # $1 minimum notional: below it the order would rest forever (harmless, but not a test).
        qty = max(qty, float(int(1.0 / price) + 1))
    log("graph_submit_intent", venue=venue, label=label, qty=qty, limit_price=price, best_bid=best_bid,
        tick=tick, notional_usd=round(qty * price, 4))  # fmt: skip
    node = seq.node(
        node_id="leg",
        symbol=symbol,
        side="buy",
        qty=qty,
        venue=venue,
        instrument_type="prediction",  # <- required for Kalshi & Polymarket
        limit_price=price,
    )
    return seq.graph([node], sandbox=sandbox).get("graph_id")


def main() -> int:
    base_url = os.environ.get("SEQUENCE_API_URL", "https://api.sequencemkts.com").rstrip("/")
    api_key = os.environ.get("SEQUENCE_API_KEY")
    log("boot", sequence_api_url=base_url, has_api_key=bool(api_key),
        strategy_id=os.environ.get("SEQUENCE_STRATEGY_ID"), run_id=os.environ.get("SEQUENCE_RUN_ID"),
        is_sandbox=os.environ.get("SEQUENCE_IS_SANDBOX"))  # fmt: skip
    if not api_key:
        log("fatal", reason="SEQUENCE_API_KEY not injected")
        return 1
    seq = Sequence(api_key, base_url)
    log("health_check", ok=seq.health())

    kalshi = find_kalshi_tradable(seq)
    poly = find_polymarket_tradable(seq)
    if not kalshi or not poly:
        log("fatal", reason="discovery_incomplete")
        return 1
    log("discovery_done", kalshi_slug=kalshi["slug"], kalshi_chosen_side=kalshi["_chosen_side"],
        polymarket_slug=poly["slug"], polymarket_outcome=poly.get("outcome_name"))  # fmt: skip

    # WS subscribe — bounded so the strategy stays finite
    channels = [f"prices:{kalshi['_chosen_symbol']}", f"prices:{poly['_chosen_symbol']}"]
    for msg in ws_subscribe(base_url, api_key, channels, duration_s=12.0, max_msgs=8):
        ch, data = msg.get("channel") or "", msg.get("data") or {}
        if ch and data:
            log("ws_msg", channel=ch[:60], bid=data.get("bid"), ask=data.get("ask"), mid=data.get("mid"))

    # Walk both books (logs top-5 levels per side per venue)
    kalshi_q = walk_book(seq, "kalshi", kalshi["_chosen_symbol"])
    poly_q = walk_book(seq, "polymarket", poly["_chosen_symbol"])

    # Submit + cancel both graphs. sandbox=False with a live (seq_live_) key: real resting orders
    # at the venues, through the credentials connected with `sequence connect`; a seq_test_ key
    # always paper-trades.
    sandbox = os.environ.get("SEQUENCE_IS_SANDBOX") == "true"
    submitted = []
    for venue, mkt, q, qty in [("kalshi", kalshi, kalshi_q, 1.0), ("polymarket", poly, poly_q, 5.0)]:
        bid = (q.get("nbbo") or {}).get("bid") or 0
        if bid > 0:
            gid = submit_test_graph(seq, venue, mkt["slug"], mkt["_chosen_symbol"], qty, float(bid),
                                    order_tick(venue, q), sandbox=sandbox)  # fmt: skip
            if gid:
                submitted.append((venue, gid))
    time.sleep(4)
    for venue, gid in submitted:
        log("graph_status", venue=venue, graph_id=gid, status=(seq.graph_status(gid) or {}).get("status"))
    for venue, gid in submitted:
        seq.cancel(gid)
        log("graph_cancelled", venue=venue, graph_id=gid)
    log("done", graphs_submitted=len(submitted))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        log("crash", error=f"{type(exc).__name__}: {exc}")
        sys.exit(1)
