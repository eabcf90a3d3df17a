"""Request and response shapes of markets, quotes, graphs, fills and positions."""

from __future__ import annotations

from typing import Any

from ninja import Schema


class GraphIn(Schema):
    """Nodes and edges stay plain objects here: the service validates them, so every mistake is
    answered with a message that names the node and the field."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]] | None = None
    sandbox: bool | None = None


class GraphSubmittedOut(Schema):
    graph_id: str
    status: str
    node_count: int
    edge_count: int
    sandbox: bool
    warnings: list[str]


class GraphCancelledOut(Schema):
    graph_id: str
    status: str
