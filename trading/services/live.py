"""Live orders: whether a venue's live orders are sent at all, and the live edge's outbox writes
(claiming an order for sending, a live algo's orders and their cancels)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trading.lifecycle import OrderDesired, OrderStatus
from trading.models import Order, new_client_order_id
from trading.risk import Proposed, risk_check


def live_connector_configured(venue: str) -> bool:
    """Whether live orders for `venue` are sent: this build has the venue's order half
    (`venues.order_clients.ORDER_CLIENTS`) and the operator switched it on (`LIVE_TRADING_VENUES`:
    by default the venues whose live path runs end to end against the fakes, Kraken and Coinbase)."""
    from venues.order_clients import ORDER_CLIENTS

    return venue in ORDER_CLIENTS and venue in settings.LIVE_TRADING_VENUES


def live_order_mark_sending(*, order_pk: int) -> bool:
    """Claim a live order for sending, just before the venue call (a conditional update, as
    healthchecks claims work): True when this call claimed it. False when it was cancelled in the
    meantime (the kill switch, a graph cancel) or was claimed before: then it must not be sent."""
    return bool(
        Order.objects.filter(
            pk=order_pk,
            paper=False,
            status=OrderStatus.NEW,
            desired_state=OrderDesired.WORKING,
            sent_at__isnull=True,
        ).update(sent_at=timezone.now())
    )


def live_algo_order_create(
    *,
    client_id: int,
    deployment_id: Any,
    venue: str,
    symbol: str,
    side: str,
    price_1e9: int,
    qty_1e8: int,
    algo_order_id: int,
) -> Order:
    """Persist a live algo's place_order (the outbox row, with its client order id) after the
    risk checks, in one transaction; the live edge sends it right after. Raises `RiskBreach`
    (nothing written) when a limit refuses it."""
    with transaction.atomic():
        risk_check(
            client_id=client_id,
            order=Proposed(venue=venue, symbol=symbol, side=side, price_1e9=price_1e9, qty_1e8=qty_1e8),
        )
        return Order.objects.create(
            deployment_id=deployment_id,
            algo_order_id=algo_order_id,
            client_id=client_id,
            is_sandbox=False,
            paper=False,
            venue=venue,
            symbol=symbol,
            side=side,
            price_1e9=price_1e9,
            qty_1e8=qty_1e8,
            leaves_qty_1e8=qty_1e8,
            client_order_id=new_client_order_id(),
        )


def live_algo_orders_cancel(
    *, order_pks: Sequence[int] = (), deployment_id: Any = None, symbol: str | None = None
) -> int:
    """Desire ``cancel`` for open live algo orders (these, or every one of a deployment, on one
    symbol if given): the live edge cancels them at the venue, or never sends one it has not sent.
    Returns how many."""
    rows = Order.objects.filter(
        paper=False, graph__isnull=True, status__in=[OrderStatus.NEW, OrderStatus.WORKING]
    ).exclude(desired_state=OrderDesired.CANCEL)
    if deployment_id is not None:
        rows = rows.filter(deployment_id=deployment_id)
        if symbol is not None:
            rows = rows.filter(symbol=symbol)
    else:
        rows = rows.filter(pk__in=list(order_pks))
    return rows.update(desired_state=OrderDesired.CANCEL)
