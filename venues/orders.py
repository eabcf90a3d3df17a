"""The order half of a live venue: what the platform needs to trade with a client's own credentials.

Each venue package implements `OrderClient` in `venues/<venue>/orders.py`, and
`venues/order_clients.py` registers it in `ORDER_CLIENTS` (`venues.live.factory`'s pattern: one
block per venue, imports inside the functions; apart from this module, which the venue packages
import). Nothing here reads Django settings or the database: the
caller (the trading app's live-order service, which owns the outbox, the risk checks and the
credential store) passes credentials and URLs in, and persists every order *before* calling
`place`.

Conventions:
- Symbols are our canonical instrument symbols (`venues.instruments`); the client maps them to the
  venue's own names. Prices and quantities are `Decimal` in the instrument's units.
- Every order carries our `client_order_id` (a string the caller generated and stored first). A
  client sends it to the venue where the venue has such a field (Kraken `cl_ord_id`/`userref`,
  Coinbase `client_order_id`, Kalshi `client_order_id`; Polymarket has none, so the client returns
  the venue's order id and the caller records the mapping), so that after a crash between persist
  and send the caller can find out whether the order reached the venue (`open_orders()` /
  `order_status()`) and never send it twice.
- Methods are synchronous (they run on the edge's order thread, never on the feed's event loop) and
  raise `OrderError` with a `code` from `ERROR_CODES` and the venue's own text for anything the
  venue refused; `OSError`/`TimeoutError` for a venue that could not be reached at all (the caller
  then does not know whether an order was placed and must reconcile before retrying).
- Fills carry the venue's fill id (`venue_fill_id`): the caller counts each exactly once by it.
- The private stream (fills and order updates) is sans-I/O like `venues.live.protocol.FeedProtocol`:
  `user_stream()` returns a `UserStreamProtocol` the caller runs with the same connection loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar, Literal

from venues.instruments import Instrument

__all__ = [
    "ERROR_CODES",
    "Balance",
    "CREDENTIAL_FIELDS",
    "OrderClient",
    "OrderConfig",
    "OrderError",
    "OrderRequest",
    "OrderUpdate",
    "UserStreamProtocol",
    "VenueFill",
    "VenueOrder",
]

Side = Literal["buy", "sell"]
OrderState = Literal["pending", "open", "partially_filled", "filled", "cancelled", "rejected", "expired"]

#: What a venue's refusal means, whatever words the venue used (the venue's text is kept beside it).
ERROR_CODES = (
    "auth_failed",  # bad key, bad signature, expired/revoked key, missing permission
    "insufficient_funds",
    "below_minimum",  # below the venue's minimum size or notional
    "bad_tick",  # price not on the venue's grid (or outside its price band)
    "bad_lot",  # quantity not a multiple of the lot
    "rate_limited",
    "unknown_symbol",
    "unknown_order",  # cancel/status of an order the venue does not know (or already done)
    "duplicate_client_order_id",  # an open order already has this client order id (ours: it is there)
    "post_only_would_cross",
    "market_closed",  # halted, settled, not open for trading
    "rejected",  # anything else the venue refused
)

#: The credential fields each venue needs (what `sequence connect <venue>` asks for). Secrets are
#: every field; none is ever logged or returned.
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "kraken": ("api_key", "api_secret"),  # api_secret: base64, as Kraken shows it
    "coinbase": ("key_name", "private_key"),  # CDP key: organizations/.../apiKeys/..., EC PEM (ES256)
    "kalshi": ("key_id", "private_key"),  # RSA PEM (RSA-PSS SHA-256 signatures)
    # L1: the wallet key signs orders (EIP-712); L2: the API key triple signs requests (HMAC).
    "polymarket": ("private_key", "api_key", "api_secret", "api_passphrase"),
}


class OrderError(Exception):
    """The venue refused: `code` (one of ERROR_CODES) is what it means, `venue_message` what it said."""

    def __init__(self, code: str, venue_message: str, *, http_status: int | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown order error code {code!r}")
        super().__init__(f"{code}: {venue_message}")
        self.code = code
        self.venue_message = venue_message
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class OrderConfig:
    """Where a venue's authenticated API is (empty: the venue's real production URLs; tests point
    them at a fake) and venue-only options (Polymarket: "chain_id", "signature_type", "funder")."""

    rest_url: str = ""
    ws_url: str = ""
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal  # limit price
    qty: Decimal
    time_in_force: Literal["gtc", "ioc"] = "gtc"
    post_only: bool = False


@dataclass(frozen=True, slots=True)
class VenueOrder:
    venue_order_id: str
    client_order_id: str | None  # None when the venue does not echo ours (Polymarket)
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    filled_qty: Decimal
    state: OrderState
    venue_message: str = ""  # the venue's words for a rejection or a cancel reason


@dataclass(frozen=True, slots=True)
class VenueFill:
    venue_fill_id: str  # unique per venue: the key a fill is counted once by
    venue_order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal  # in the quote currency (prediction markets: dollars); negative for a rebate
    ts_ns: int
    liquidity: Literal["maker", "taker", ""] = ""


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str  # "USD", "BTC", "USDC", ...
    total: Decimal
    available: Decimal


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order changed at the venue (acked, partly filled, cancelled, rejected)."""

    order: VenueOrder


@dataclass(frozen=True, slots=True)
class StreamSend:
    frame: str


@dataclass(frozen=True, slots=True)
class StreamReconnect:
    reason: str


UserEvent = OrderUpdate | VenueFill | StreamSend | StreamReconnect


class UserStreamProtocol(ABC):
    """A venue's private stream of order updates and fills, sans-I/O (see FeedProtocol): the loop
    opens `url()` with `handshake_headers()`, sends `on_open()`'s frames, feeds each frame to
    `on_frame()` and acts on the events. A reconnect may miss fills: the caller reconciles through
    `OrderClient.recent_fills()` after every (re)connect, and counts fills by `venue_fill_id`."""

    venue: ClassVar[str]
    ping_interval_s: ClassVar[float | None] = None
    silence_s: ClassVar[float] = 60.0

    @abstractmethod
    def url(self) -> str: ...

    def handshake_headers(self) -> dict[str, str]:
        return {}

    @abstractmethod
    def on_open(self) -> list[str]:
        """The frames to send on a new connection (authenticate, subscribe)."""

    @abstractmethod
    def on_frame(self, data: str | bytes, recv_ns: int) -> list[UserEvent]:
        """Handle one frame; never raises for bad input."""

    def ping_frame(self) -> str | None:
        return None


class OrderClient(ABC):
    """One client's authenticated session with one venue (see the module docstring)."""

    venue: ClassVar[str]

    def __init__(
        self,
        credentials: Mapping[str, str],
        config: OrderConfig,
        *,
        instrument: Callable[[str], Instrument] | None = None,
    ) -> None:
        missing = [f for f in CREDENTIAL_FIELDS[self.venue] if not credentials.get(f)]
        if missing:
            raise OrderError("auth_failed", f"missing credential fields: {', '.join(missing)}")
        self.credentials = dict(credentials)
        self.config = config
        self.instrument = instrument

    def __repr__(self) -> str:  # never the credentials
        return f"<{type(self).__name__} {self.venue}>"

    @abstractmethod
    def balances(self) -> list[Balance]:
        """An authenticated read: what `sequence connect` calls to check the credentials at once."""

    @abstractmethod
    def place(self, request: OrderRequest) -> VenueOrder:
        """Send one limit order. Returns the venue's acknowledgement (state "open", "filled", ... or
        "rejected" with the venue's text) or raises OrderError."""

    @abstractmethod
    def cancel(self, symbol: str, venue_order_id: str) -> bool:
        """Cancel one order; False when the venue says it is unknown or already done."""

    @abstractmethod
    def open_orders(self, symbols: Sequence[str] | None = None) -> list[VenueOrder]:
        """Every order of this account resting at the venue (all symbols when None)."""

    @abstractmethod
    def recent_fills(self, since_ns: int) -> list[VenueFill]:
        """Fills since `since_ns` (for reconciling after a restart or a reconnect)."""

    def cancel_all(self, symbols: Sequence[str] | None = None) -> list[str]:
        """Cancel every open order (the kill switch); returns the venue order ids cancelled. Venues
        with a native cancel-all override this."""
        done = []
        for order in self.open_orders(symbols):
            if self.cancel(order.symbol, order.venue_order_id):
                done.append(order.venue_order_id)
        return done

    def user_stream(self) -> UserStreamProtocol | None:
        """The private stream of fills and order updates, when the venue has one."""
        return None

    def close(self) -> None:  # noqa: B027 (optional hook: most clients hold nothing to release)
        """Release connections."""
