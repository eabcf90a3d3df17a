"""Every write of the trading app: submitting and cancelling execution graphs, and applying what
edges report (order acknowledgements, fills, cancels), which is also where child nodes activate.

A graph is validated completely before anything is written and then stored in one transaction:
nothing is ever half-submitted. Root nodes get their orders at submit; a child gets its order in
the same transaction that records the parent fill firing its trigger. Orders are desired state;
the venue's edge picks them up on its next reconcile pass (nudged on commit, so within tens of
milliseconds) and reports back through `orders_report`.

The package, by seam: ``validation`` (checking a graph, writing nothing), ``graphs`` (submit,
cancel, and advancing a graph as its nodes end), ``reports`` (what edges report: order states,
fills, positions), ``live`` (live orders: the venue switch and the live edge's outbox writes) and
``kill`` (the kill switch). Callers use ``trading.services.<name>``; every public name is here.
"""

from trading.credentials import NoLiveConnector
from trading.services.graphs import Submitted, graph_advance, graph_cancel, graph_submit, graph_wind_down
from trading.services.kill import KillResult, kill_switch
from trading.services.live import (
    live_algo_order_create,
    live_algo_orders_cancel,
    live_connector_configured,
    live_order_mark_sending,
)
from trading.services.reports import FillReport, OrderUpdate, ReportResult, orders_report
from trading.services.validation import MAX_EDGES, MAX_NODES, EdgeSpec, GraphSpec, NodeSpec, graph_validate

__all__ = [
    "MAX_EDGES",
    "MAX_NODES",
    "EdgeSpec",
    "FillReport",
    "GraphSpec",
    "KillResult",
    "NoLiveConnector",
    "NodeSpec",
    "OrderUpdate",
    "ReportResult",
    "Submitted",
    "graph_advance",
    "graph_cancel",
    "graph_submit",
    "graph_validate",
    "graph_wind_down",
    "kill_switch",
    "live_algo_order_create",
    "live_algo_orders_cancel",
    "live_connector_configured",
    "live_order_mark_sending",
    "orders_report",
]
