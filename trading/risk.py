"""Risk controls in front of every live order, per client and venue: maximum order notional,
maximum position notional, maximum open orders, maximum orders per second, daily loss limit.

`risk_check` runs inside the transaction that creates the order (graph submit for roots, the fill
report that fires a trigger for children), after locking the client's `RiskLimit` row, so two
requests racing for the last open-order slot cannot both get it. A breach raises `RiskBreach`
(HTTP 422 ``risk_limit``) naming the rule, the limit and the figure that broke it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from sequence_site.errors import DomainError, InvalidInput
from sequence_site.scope import Scope
from trading.credentials import known_venue, require_live
from trading.lifecycle import OrderStatus
from trading.models import Fill, Order, Position, RiskLimit
from venues.instruments import PRICE_SCALE, QTY_SCALE

RULES = (
    "max_order_notional",
    "max_position_notional",
    "max_open_orders",
    "max_orders_per_second",
    "daily_loss_limit",
)
_DECIMAL_RULES = ("max_order_notional", "max_position_notional", "daily_loss_limit")
_MAX_LIMIT = Decimal("1e12")


class RiskBreach(DomainError):
    status = 422
    code = "risk_limit"

    def __init__(self, *, venue: str, rule: str, limit: Any, value: Any, what: str) -> None:
        super().__init__(
            f"risk limit {rule} at {venue}: {what} {value} would exceed the limit {limit}",
            details={"rule": rule, "venue": venue, "limit": str(limit), "value": str(value)},
        )
        self.rule = rule


def defaults() -> dict[str, Any]:
    return {
        "max_order_notional": Decimal(settings.RISK_DEFAULT_MAX_ORDER_NOTIONAL),
        "max_position_notional": Decimal(settings.RISK_DEFAULT_MAX_POSITION_NOTIONAL),
        "max_open_orders": settings.RISK_DEFAULT_MAX_OPEN_ORDERS,
        "max_orders_per_second": settings.RISK_DEFAULT_MAX_ORDERS_PER_SECOND,
        "daily_loss_limit": Decimal(settings.RISK_DEFAULT_DAILY_LOSS_LIMIT),
    }


def effective_limits(row: RiskLimit | None) -> dict[str, Any]:
    out = defaults()
    if row is not None:
        for rule in RULES:
            value = getattr(row, rule)
            if value is not None:
                out[rule] = value
    return out


def risk_limits_get(*, client_id: int, venue: str) -> dict[str, Any]:
    row = RiskLimit.objects.filter(client_id=client_id, venue=venue).first()
    limits = effective_limits(row)
    return {
        "venue": venue,
        "limits": {k: (str(v) if isinstance(v, Decimal) else v) for k, v in limits.items()},
        "custom": [r for r in RULES if row is not None and getattr(row, r) is not None],
    }


def venue_limits_get(*, scope: Scope, venue: Any) -> dict[str, Any]:
    """The client's limits at `venue` (live keys and live dashboard sessions only): what the API's
    GET /v1/venues/{venue}/limits, `sequence limits` and the Venues page show."""
    require_live(scope, "Risk limits")
    return risk_limits_get(client_id=scope.client.pk, venue=known_venue(venue))


def venue_limits_set(*, scope: Scope, venue: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """Set some of the client's limits at `venue` (``None``: back to the default), for the API's
    PATCH, `sequence limits --set` and the Venues page's form alike."""
    require_live(scope, "Risk limits")
    venue = known_venue(venue)
    if not changes:
        raise InvalidInput(f"send at least one of {', '.join(RULES)}")
    return risk_limits_set(client_id=scope.client.pk, venue=venue, changes=changes)


def _parse(rule: str, value: Any) -> Any:
    if value is None:
        return None  # back to the default
    if rule in _DECIMAL_RULES:
        if isinstance(value, bool):
            raise InvalidInput(f"{rule} must be a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise InvalidInput(f"{rule} must be a number, got {value!r}") from None
        if not number.is_finite() or number < 0 or number > _MAX_LIMIT:
            raise InvalidInput(f"{rule} must be between 0 and {_MAX_LIMIT:f}, got {value!r}")
        return number.quantize(Decimal("0.01"))
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        raise InvalidInput(f"{rule} must be a whole number between 0 and 1000000, got {value!r}")
    return value


def risk_limits_set(*, client_id: int, venue: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Set some limits (null: back to the default); the others keep their values."""
    unknown = sorted(set(changes) - set(RULES))
    if unknown:
        raise InvalidInput(f"unknown risk limits: {', '.join(unknown)} (known: {', '.join(RULES)})")
    parsed = {rule: _parse(rule, value) for rule, value in changes.items()}
    with transaction.atomic():
        row, _ = RiskLimit.objects.select_for_update().get_or_create(client_id=client_id, venue=venue)
        for rule, value in parsed.items():
            setattr(row, rule, value)
        row.save()
    return risk_limits_get(client_id=client_id, venue=venue)


@dataclass(frozen=True, slots=True)
class Proposed:
    venue: str
    symbol: str
    side: str
    price_1e9: int
    qty_1e8: int


def _money(raw: int | Decimal, scale: int) -> Decimal:
    return (Decimal(raw) / scale).quantize(Decimal("0.01"))


def risk_check(*, client_id: int, order: Proposed) -> None:
    """Raise `RiskBreach` when `order` (a live order about to be created) breaks a limit. Must run
    in the transaction that creates the order: it locks the client's limits row for the venue."""
    row, _ = RiskLimit.objects.select_for_update().get_or_create(client_id=client_id, venue=order.venue)
    limits = effective_limits(row)
    venue = order.venue
    notional = _money(order.price_1e9 * order.qty_1e8, PRICE_SCALE * QTY_SCALE)
    if notional > limits["max_order_notional"]:
        raise RiskBreach(
            venue=venue,
            rule="max_order_notional",
            limit=limits["max_order_notional"],
            value=notional,
            what="order notional",
        )
    live = Order.objects.filter(client_id=client_id, venue=venue, paper=False)
    open_orders = live.filter(status__in=[OrderStatus.NEW, OrderStatus.WORKING])
    open_count = open_orders.count()
    if open_count + 1 > limits["max_open_orders"]:
        raise RiskBreach(
            venue=venue,
            rule="max_open_orders",
            limit=limits["max_open_orders"],
            value=open_count + 1,
            what="open orders",
        )
    recent = live.filter(created_at__gte=timezone.now() - timedelta(seconds=1)).count()
    if recent + 1 > limits["max_orders_per_second"]:
        raise RiskBreach(
            venue=venue,
            rule="max_orders_per_second",
            limit=limits["max_orders_per_second"],
            value=recent + 1,
            what="orders in the last second",
        )
    # The position if this order and every open order on the same side of the symbol filled.
    pos = Position.objects.filter(
        client_id=client_id, is_sandbox=False, paper=False, venue=venue, symbol=order.symbol
    ).first()
    current = pos.position_1e8 if pos is not None else 0
    same_side = (
        open_orders.filter(symbol=order.symbol, side=order.side).aggregate(q=Sum("leaves_qty_1e8"))["q"] or 0
    )
    signed = order.qty_1e8 + same_side
    projected = current + (signed if order.side == "buy" else -signed)
    position_notional = _money(abs(projected) * order.price_1e9, PRICE_SCALE * QTY_SCALE)
    if abs(projected) > abs(current) and position_notional > limits["max_position_notional"]:
        raise RiskBreach(
            venue=venue,
            rule="max_position_notional",
            limit=limits["max_position_notional"],
            value=position_notional,
            what=f"position notional in {order.symbol}",
        )
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    today = Fill.objects.filter(
        client_id=client_id, paper=False, venue=venue, created_at__gte=midnight
    ).aggregate(realized=Sum("realized_1e9"), fees=Sum("fee_1e9"))
    loss = _money(-((today["realized"] or 0) - (today["fees"] or 0)), PRICE_SCALE)
    if loss > 0 and loss >= limits["daily_loss_limit"]:
        raise RiskBreach(
            venue=venue,
            rule="daily_loss_limit",
            limit=limits["daily_loss_limit"],
            value=loss,
            what="today's realized loss (with fees)",
        )
