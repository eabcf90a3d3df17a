"""The HTTP client of the SDK: standard library only (urllib + json), so strategies need no pip install."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"
_IDEMPOTENT = {"GET", "HEAD"}


class SequenceError(Exception):
    """An API call failed. ``status`` is the HTTP status (0 when the server could not be reached),
    ``code`` the API's machine-readable error code, ``message`` what to tell a person."""

    def __init__(self, status: int, message: str, code: str = "error", details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}" if status else message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class Sequence:
    """A client for the Sequence API.

    ``Sequence(api_key, base_url)``. Reads (GET) are retried on connection errors and 502/503/504
    with a short backoff; writes are never retried, so an order is never sent twice by the SDK.
    """

    def __init__(
        self, api_key: str, base_url: str = DEFAULT_URL, *, timeout: float = 10.0, retries: int = 2
    ) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise SequenceError(
                0, f"base_url must be an http:// or https:// URL, not {base_url!r}.", "bad_url"
            )
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries

    # -- transport ---------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None
    ) -> Any:
        """Send one request to ``/v1{path}``; return the decoded JSON body or raise ``SequenceError``."""
        method = method.upper()
        url = f"{self.base_url}/v1{path}"
        if params:
            query = {k: _query_value(v) for k, v in params.items() if v is not None}
            if query:
                url += "?" + urllib.parse.urlencode(query)
        data = None
        headers = {"Accept": "application/json", "User-Agent": "sequence-markets/0.4.0"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        attempts = 1 + (self.retries if method in _IDEMPOTENT else 0)
        for attempt in range(attempts):
            req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
            try:
                # The scheme was checked in __init__: only http(s) URLs reach urlopen.
                with urllib.request.urlopen(req, timeout=self.timeout) as response:  # noqa: S310
                    raw = response.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                error = _error_from_response(exc)
                if exc.code in (502, 503, 504) and attempt + 1 < attempts:
                    time.sleep(0.2 * (2**attempt))
                    continue
                raise error from None
            except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
                if attempt + 1 < attempts:
                    time.sleep(0.2 * (2**attempt))
                    continue
                reason = getattr(exc, "reason", exc)
                raise SequenceError(0, f"Cannot reach {self.base_url}: {reason}", "unreachable") from None
        raise AssertionError("unreachable")

    # -- endpoints ---------------------------------------------------------------------------
    def ws_url(self, path: str, params: dict[str, Any] | None = None) -> str:
        """The websocket URL of API path ``path`` (``/stream``): ws:// or wss:// like the base URL;
        ``params`` with a None value are left out."""
        parts = urllib.parse.urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        return urllib.parse.urlunsplit(
            (scheme, parts.netloc, parts.path.rstrip("/") + "/v1" + path, query, "")
        )

    def health(self) -> bool:
        """True when the API answers and its database and Redis are up."""
        try:
            return bool(self.request("GET", "/health").get("ok"))
        except SequenceError as exc:
            if exc.status == 503:
                return False
            raise

    def whoami(self) -> dict[str, Any]:
        """The client and mode (``test`` = sandbox, ``live``) this key acts as."""
        body: dict[str, Any] = self.request("GET", "/keys/me")
        return body

    # -- markets, quotes, the price stream --------------------------------------------------------
    def markets(
        self,
        venue: str,
        *,
        limit: int | None = None,
        order: str | None = None,
        active: bool | None = None,
        expand: str | None = None,
    ) -> dict[str, Any]:
        """``{"venue", "count", "markets": [...]}``. Prediction venues (kalshi, polymarket) list
        markets with ``slug``, ``liquidity``, ``volume``, ``yes_token_id``, ``no_token_id``,
        ``outcome_name``, ``is_placeholder_outcome``, ``tick_size``, ``min_notional``, ``status``;
        ``order="volume"|"liquidity"`` sorts descending; ``expand="outcomes"`` gives one row per
        outcome of a multi-outcome Polymarket event. Spot venues list their pairs."""
        params = {"venue": venue, "limit": limit, "order": order, "active": active, "expand": expand}
        body: dict[str, Any] = self.request("GET", "/markets", params=params)
        return body

    def quote(self, symbol: str, depth: int = 5, *, venue: str | None = None) -> dict[str, Any]:
        """The live book of ``symbol`` (a spot pair like ``"BTC-USD"`` or a prediction token id):
        ``{"nbbo": {"bid", "ask", "bid_size", "ask_size", "mid", "venue", ...}, "bids": [...],
        "asks": [...]}`` with ``depth`` levels a side (``{"price", "size", "venue"}``, best first).
        Prices are decimals (prediction markets: 0.01–0.99); a missing side is ``None``. Raises
        ``SequenceError`` 404 for an unknown symbol, 503 when no edge publishes it."""
        body: dict[str, Any] = self.request(
            "GET", "/quotes", params={"symbol": symbol, "depth": depth, "venue": venue}
        )
        return body

    def stream(
        self,
        channels: list[str],
        *,
        duration_s: float | None = None,
        max_msgs: int | None = None,
        include_control: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Subscribe to ``channels`` (``"prices:{symbol}"``) over the ``/v1/stream`` websocket and
        yield messages ``{"channel": "prices:SYM", "data": {"bid", "ask", "mid", "bid_size",
        "ask_size", "venue", "symbol", "ts_ns"}}`` until ``duration_s`` passed or ``max_msgs``
        price messages were yielded (either may be None: unbounded). ``include_control`` also
        yields the welcome, ack and heartbeat messages. Raises ``SequenceError`` when the
        connection is refused or a channel is not accepted."""
        from sequence_markets.ws import WebSocketClosed, WebSocketError, WebSocketHandshakeError, connect

        url = self.ws_url("/stream")
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            ws = connect(url, {"Authorization": f"Bearer {self.api_key}"}, timeout=self.timeout)
        except WebSocketHandshakeError as exc:
            status = 401 if exc.status == 403 else exc.status
            raise SequenceError(
                status,
                f"the stream refused the connection (HTTP {exc.status}): check the API key",
                "stream_refused",
            ) from None
        except WebSocketError as exc:
            raise SequenceError(0, str(exc), "unreachable") from None
        count = 0
        try:
            ws.send_json({"op": "subscribe", "channels": list(channels)})
            while max_msgs is None or count < max_msgs:
                wait = 30.0 if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    return
                try:
                    msg = ws.recv_json(timeout=min(wait, 30.0))
                except TimeoutError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if msg.get("type") == "ack" and msg.get("errors"):
                    first = msg["errors"][0]
                    raise SequenceError(400, f"{first.get('channel')}: {first.get('message')}", "bad_channel")
                if msg.get("channel") and msg.get("data"):
                    count += 1
                    yield msg
                elif include_control:
                    yield msg
        except WebSocketClosed as exc:
            raise SequenceError(
                0, f"the stream closed ({exc.code} {exc.reason})".strip(), "stream_closed"
            ) from None
        finally:
            ws.close()

    # -- execution graphs, fills, positions -------------------------------------------------------
    @staticmethod
    def node(
        node_id: str,
        symbol: str,
        side: str,
        qty: float | str,
        *,
        venue: str,
        limit_price: float | str,
        instrument_type: str | None = None,
        urgency: str = "normal",
        activation: str = "root",
    ) -> dict[str, Any]:
        """One node of an execution graph (a limit order): ``side`` "buy"/"sell", ``qty`` in units
        (shares, contracts, coins), ``limit_price`` as a decimal (prediction markets: 0.01–0.99, on
        the venue's tick). ``instrument_type="prediction"`` is required for kalshi and polymarket.
        ``activation`` is informational: nodes no edge targets are roots and fire at submit."""
        out: dict[str, Any] = {
            "node_id": node_id,
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "venue": venue,
            "limit_price": limit_price,
            "urgency": urgency,
            "activation": activation,
        }
        if instrument_type is not None:
            out["instrument_type"] = instrument_type
        return out

    def graph(
        self,
        nodes: list[dict[str, Any]],
        edges: list[dict[str, Any]] | None = None,
        sandbox: bool | None = None,
    ) -> dict[str, Any]:
        """Submit an execution graph; returns ``{"graph_id", "status", "node_count", "edge_count",
        "sandbox", "warnings"}``. ``edges`` are ``{"parent", "child", "trigger": "filled" |
        "completed"}``: the child activates on the parent's first fill / once it is completely
        filled. A ``seq_test_`` key always paper-trades; ``sandbox=True`` paper-trades with a live
        key. Validation is all-or-nothing: on a 4xx nothing was submitted."""
        body: dict[str, Any] = {"nodes": nodes, "edges": edges or []}
        if sandbox is not None:
            body["sandbox"] = sandbox
        graph: dict[str, Any] = self.request("POST", "/graphs", json_body=body)
        return graph

    def graph_status(self, graph_id: str) -> dict[str, Any]:
        """The graph's ``status`` (active, completed, cancelled, failed) and each node's. It lags
        fills slightly: to detect fills use ``fills()`` and ``node_order_id``."""
        body: dict[str, Any] = self.request("GET", f"/graphs/{urllib.parse.quote(graph_id, safe='')}")
        return body

    def cancel(self, graph_id: str) -> dict[str, Any]:
        """Cancel an active graph (working orders come off the book, pending nodes never fire)."""
        body: dict[str, Any] = self.request("POST", f"/graphs/{urllib.parse.quote(graph_id, safe='')}/cancel")
        return body

    def fills(self, symbol: str | None = None, limit: int = 50) -> dict[str, Any]:
        """``{"fills": [...]}`` newest first; each has ``node_order_id``
        (``graph:{graph_id}:{node_id}:{n}``), ``symbol``, ``venue``, ``side``, ``price``, ``qty``,
        ``qty_1e8``, ``price_1e9``, ``fee_1e9``, ``ts_ns``."""
        body: dict[str, Any] = self.request("GET", "/fills", params={"symbol": symbol, "limit": limit})
        return body

    def positions(self) -> dict[str, Any]:
        """``{"positions": [...]}``: net position and realized PnL per venue and symbol."""
        body: dict[str, Any] = self.request("GET", "/positions")
        return body


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _error_from_response(exc: urllib.error.HTTPError) -> SequenceError:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    if isinstance(body, dict) and "message" in body:
        return SequenceError(
            exc.code, str(body["message"]), str(body.get("error", "error")), body.get("details")
        )
    return SequenceError(exc.code, exc.reason or "HTTP error", "error")
