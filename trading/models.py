"""Execution graphs, the orders edges work for them, fills and positions.

Units follow the rest of the platform: prices ×1e9 (`*_1e9`), quantities ×1e8 (`*_1e8`), money
×1e9. Every row carries ``(client, is_sandbox)`` — the mode of the key that created it — and every
read filters on both. ``paper`` says where the orders execute: paper-filled by a sandbox edge's
simulated venue (always for sandbox keys; for live keys when they ask for ``sandbox=True``), or on
the venue through a live connector.
"""

from __future__ import annotations

import secrets
import uuid

from django.db import models

from sequence_site.models import Client
from trading.states import GraphStatus, NodeStatus, OrderDesired, OrderStatus, Trigger


def new_graph_id() -> str:
    return f"graph_{secrets.token_hex(8)}"


def node_order_id(graph_id: str, node_id: str, seq: int) -> str:
    """The id fills carry for an order: ``graph:{graph_id}:{node_id}:{n}``."""
    return f"graph:{graph_id}:{node_id}:{seq}"


def algo_order_ref(deployment_uuid: object, algo_order_id: int | None) -> str:
    """What fills carry for a live algo's order: ``algo:dep_{uuid}:{order id}``."""
    return f"algo:dep_{deployment_uuid}:{algo_order_id}"


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class InstrumentType(models.TextChoices):
    SPOT = "spot", "Spot"
    PREDICTION = "prediction", "Prediction"


class Urgency(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"


class Graph(models.Model):
    graph_id = models.CharField(max_length=40, unique=True, default=new_graph_id)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="graphs")
    is_sandbox = models.BooleanField()
    paper = models.BooleanField()
    status = models.CharField(max_length=12, choices=GraphStatus.choices, default=GraphStatus.ACTIVE)
    node_count = models.PositiveIntegerField()
    edge_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["client", "is_sandbox", "-created_at"])]

    def __str__(self) -> str:
        return self.graph_id


class Node(models.Model):
    graph = models.ForeignKey(Graph, on_delete=models.CASCADE, related_name="nodes")
    node_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=100)
    venue = models.CharField(max_length=20)
    instrument_type = models.CharField(max_length=12, choices=InstrumentType.choices)
    side = models.CharField(max_length=4, choices=Side.choices)
    qty_1e8 = models.BigIntegerField()
    limit_price_1e9 = models.BigIntegerField()
    urgency = models.CharField(max_length=8, choices=Urgency.choices, default=Urgency.NORMAL)
    is_root = models.BooleanField()
    status = models.CharField(max_length=12, choices=NodeStatus.choices, default=NodeStatus.PENDING)
    filled_qty_1e8 = models.BigIntegerField(default=0)
    # Σ price_1e9 × qty_1e8 of the fills: the average fill price without rounding drift.
    filled_notional_raw = models.DecimalField(max_digits=40, decimal_places=0, default=0)
    fees_1e9 = models.BigIntegerField(default=0)
    reason = models.CharField(max_length=200, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["graph", "node_id"], name="trading_node_unique_id")]

    def __str__(self) -> str:
        return f"{self.graph_id}:{self.node_id}"


class GraphEdge(models.Model):
    """`child` activates when `parent` reaches `trigger` (all of a child's parents must)."""

    graph = models.ForeignKey(Graph, on_delete=models.CASCADE, related_name="edges")
    parent = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="child_edges")
    child = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="parent_edges")
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.FILLED)
    fired = models.BooleanField(default=False)


class GraphEvent(models.Model):
    """Every status change of a graph (node_id "") or of one of its nodes."""

    graph = models.ForeignKey(Graph, on_delete=models.CASCADE, related_name="events")
    node_id = models.CharField(max_length=64, blank=True)
    from_status = models.CharField(max_length=12)
    to_status = models.CharField(max_length=12)
    reason = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class Order(models.Model):
    """One order an edge must work: desired state set by services, observed state by the edge.

    An order belongs to a graph's node, or (live algos only) to a deployment: a live algo's
    place_order, persisted by its edge before it is sent, with the core's order id."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="orders", null=True, blank=True)
    graph = models.ForeignKey(Graph, on_delete=models.CASCADE, related_name="orders", null=True, blank=True)
    deployment = models.ForeignKey(
        "algo_studio.Deployment", on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    algo_order_id = models.BigIntegerField(null=True, blank=True)  # the id place_order returned
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    is_sandbox = models.BooleanField()
    paper = models.BooleanField()
    venue = models.CharField(max_length=20)
    symbol = models.CharField(max_length=100)
    side = models.CharField(max_length=4, choices=Side.choices)
    price_1e9 = models.BigIntegerField()
    qty_1e8 = models.BigIntegerField()
    seq = models.PositiveIntegerField(default=1)  # n in node_order_id graph:{graph}:{node}:{n}
    desired_state = models.CharField(max_length=8, choices=OrderDesired.choices, default=OrderDesired.WORKING)
    status = models.CharField(max_length=12, choices=OrderStatus.choices, default=OrderStatus.NEW)
    filled_qty_1e8 = models.BigIntegerField(default=0)
    leaves_qty_1e8 = models.BigIntegerField()
    dormant = models.BooleanField(default=False)  # Polymarket under $1 notional: rests, never fills
    reject_reason = models.CharField(max_length=200, blank=True)
    # Live orders only (paper=False), the outbox: the id we send with the order, written with the
    # row before anything is sent; when the live edge started sending it (set by a conditional
    # update just before the venue call: a row with sent_at and no venue_order_id after a crash is
    # looked up at the venue by client_order_id, never blindly sent again); what the venue said.
    client_order_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    venue_order_id = models.CharField(max_length=128, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)  # venues.orders.ERROR_CODES or risk_limit
    venue_message = models.CharField(max_length=500, blank=True)  # the venue's own words
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # A sandbox key's order is always paper: no row can ever route a sandbox order live.
            models.CheckConstraint(
                condition=~models.Q(is_sandbox=True, paper=False), name="trading_order_sandbox_is_paper"
            ),
            # A graph's order, or a live algo's (whose deployment may be gone, never its id).
            models.CheckConstraint(
                condition=models.Q(graph__isnull=False) | models.Q(algo_order_id__isnull=False, paper=False),
                name="trading_order_graph_or_live_algo",
            ),
        ]
        indexes = [
            # The edge's reconcile query: open orders of one venue and mode.
            models.Index(
                fields=["venue", "paper"],
                name="trading_order_open",
                condition=models.Q(status__in=["new", "working"]),
            )
        ]

    @property
    def node_order_id(self) -> str:
        graph, node = self.graph, self.node
        if graph is None or node is None:  # a live algo's order
            return algo_order_ref(self.deployment_id, self.algo_order_id)
        return node_order_id(graph.graph_id, node.node_id, self.seq)


class Fill(models.Model):
    # "<venue>:<the venue's fill id>": a Polymarket maker fill's id is the trade id, ":" and our
    # order's 66-character hash, over 110 characters in all
    fill_id = models.CharField(max_length=200, unique=True)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fills")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    is_sandbox = models.BooleanField()
    paper = models.BooleanField()
    node_order_id = models.CharField(max_length=200)
    venue = models.CharField(max_length=20)
    symbol = models.CharField(max_length=100)
    side = models.CharField(max_length=4, choices=Side.choices)
    price_1e9 = models.BigIntegerField()
    qty_1e8 = models.BigIntegerField()
    fee_1e9 = models.BigIntegerField()
    liquidity = models.CharField(max_length=5)
    ts_ns = models.BigIntegerField()
    # The realized PnL this fill booked (average cost, ×1e9): the daily loss limit sums it.
    realized_1e9 = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["client", "is_sandbox", "symbol", "-ts_ns"]),
            models.Index(fields=["client", "paper", "venue", "created_at"], name="trading_fill_daily"),
        ]


class Position(models.Model):
    """Net position of a client per (mode, paper, venue, symbol), average-cost PnL."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    is_sandbox = models.BooleanField()
    paper = models.BooleanField()
    venue = models.CharField(max_length=20)
    symbol = models.CharField(max_length=100)
    position_1e8 = models.BigIntegerField(default=0)
    # Σ price_1e9 × signed qty_1e8 of the open position, and realized PnL at the same scale (1e17).
    cost_raw = models.DecimalField(max_digits=40, decimal_places=0, default=0)
    realized_raw = models.DecimalField(max_digits=40, decimal_places=0, default=0)
    fees_1e9 = models.BigIntegerField(default=0)
    fill_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "is_sandbox", "paper", "venue", "symbol"], name="trading_position_unique"
            )
        ]


def new_client_order_id() -> str:
    """A UUID: every venue takes one as its client order id (Kraken cl_ord_id, Coinbase, Kalshi)."""
    return str(uuid.uuid4())


class VenueCredential(models.Model):
    """One client's API credentials for one venue, AEAD-sealed (``sequence_site.crypto``, purpose
    ``venue.credentials``, bound to this row's id). Only live keys create or use them; the sealed
    bytes never leave the database except to the live edge that sends the client's orders."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="venue_credentials")
    venue = models.CharField(max_length=20)
    label = models.CharField(max_length=100, blank=True)
    field_names = models.JSONField(default=list)  # which fields are stored (never their values)
    ciphertext = models.BinaryField()
    nonce = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    # Orders resting at the venue under these credentials that no order of ours explains, as the
    # live edge last saw them: reported here, never adopted or cancelled on our own.
    unknown_orders = models.JSONField(default=list, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "venue"], name="trading_credential_one_per_venue")
        ]

    def __repr__(self) -> str:  # never the secret
        return f"<VenueCredential {self.client_id}:{self.venue}>"

    __str__ = __repr__


class RiskLimit(models.Model):
    """A client's risk limits at one venue (live orders only). A null column takes the default
    from settings (``RISK_DEFAULT_*``). Notionals and losses are in the quote currency (USD)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="risk_limits")
    venue = models.CharField(max_length=20)
    max_order_notional = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    max_position_notional = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    max_open_orders = models.PositiveIntegerField(null=True, blank=True)
    max_orders_per_second = models.PositiveIntegerField(null=True, blank=True)
    daily_loss_limit = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "venue"], name="trading_risk_limit_unique")]
