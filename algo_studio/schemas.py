"""Request and response shapes of the algo API (v1 by symbol, v2 deployments, bundles)."""

from __future__ import annotations

from ninja import Field, Schema


class AlgoDeployIn(Schema):
    symbol: str
    wasm_base64: str
    start_immediately: bool = False
    venue: str | None = None


class AlgoOut(Schema):
    symbol: str
    size_bytes: int
    modified_at: int
    status: str


class EdgeRowOut(Schema):
    symbol: str
    edge_id: str
    deploy_id: str
    status: str
    size_bytes: int
    deployed_at: int
    last_heartbeat: int | None
    pause_reason: str | None
    position_1e8: int
    realized_pnl_1e9: int
    session_realized_pnl_1e9: int
    unrealized_pnl_1e9: int
    callback_latency_ns: int
    update_count: int


class AlgoListOut(Schema):
    algos: list[AlgoOut]
    edges: list[EdgeRowOut] | None = None


class AlgoDeployOut(Schema):
    symbol: str
    size_bytes: int
    status: str
    paused: bool
    pushed_to: int
    capable_edges: int
    warnings: list[str] = Field(
        default_factory=list,
        description="orders the venue would refuse, found by a dry run of the algo on a simulated book",
    )


class AlgoActionOut(Schema):
    symbol: str
    status: str
    edges_notified: int
    warnings: list[str] = Field(
        default_factory=list,
        description="orders the venue would refuse, found by a dry run of the algo on a simulated book",
    )


class AlgoDeletedOut(Schema):
    symbol: str
    deleted: bool


class LogOut(Schema):
    ts_ns: int
    level: str
    message: str


class AlgoLogsOut(Schema):
    symbol: str
    logs: list[LogOut]


class AlgoStatsOut(Schema):
    symbol: str
    status: str
    position: float
    pnl: float
    trades: int
    orders: int
    fills: int
    rejects: int
    uptime_secs: int


class DeploymentIn(Schema):
    symbols: list[str]
    name: str | None = None
    wasm_base64: str | None = None
    start_immediately: bool = False
    venue: str | None = None
    bundle_id: str | None = None


class DeploymentRenameIn(Schema):
    name: str | None = Field(..., max_length=200)


class DeploymentEdgeSummaryOut(Schema):
    edge_id: str
    symbol: str
    status: str


class DeploymentOut(Schema):
    deployment_id: str
    name: str | None
    symbols: list[str]
    size_bytes: int
    desired_state: str
    status: str
    venue: str | None
    sha256: str
    created_at: int
    modified_at: int
    edges: list[DeploymentEdgeSummaryOut]


class DeploymentListOut(Schema):
    deployments: list[DeploymentOut]


class DeploymentEdgeDetailOut(EdgeRowOut):
    venue: str
    desired_state: str
    order_count: int
    fill_count: int
    reject_count: int
    trade_count: int


class DeploymentDetailOut(DeploymentOut):
    edges: list[DeploymentEdgeDetailOut]  # type: ignore[assignment]


class DeploymentCreatedOut(DeploymentDetailOut):
    pushed_to: int
    capable_edges: int
    warnings: list[str] = Field(
        default_factory=list,
        description="orders the venue would refuse, found by a dry run of the algo on a simulated book",
    )


class DeploymentActionOut(Schema):
    deployment_id: str
    desired_state: str
    edges_notified: int
    warnings: list[str] = Field(
        default_factory=list,
        description="orders the venue would refuse, found by a dry run of the algo on a simulated book",
    )


class DeploymentDeletedOut(Schema):
    deployment_id: str
    deleted: bool


class DeploymentLogOut(LogOut):
    edge_id: str
    symbol: str


class DeploymentLogsOut(Schema):
    deployment_id: str
    logs: list[DeploymentLogOut]


class MetricPointOut(Schema):
    ts: int
    position_1e8: int
    realized_pnl_1e9: int
    unrealized_pnl_1e9: int
    callback_latency_ns: int
    fill_count: int


class MetricsOut(Schema):
    deployment_id: str
    interval: str
    series: list[MetricPointOut]


class TraceOut(Schema):
    callback_type: str
    symbol: str
    ts_ns: int
    latency_ns: int
    edge_id: str
    input: dict
    output: dict
    logs: list[str]


class TracesOut(Schema):
    deployment_id: str
    traces: list[TraceOut]


class BundleIn(Schema):
    wasm_base64: str
    name: str = ""


class BundleOut(Schema):
    bundle_id: str
    name: str
    size_bytes: int
    sha256: str
    created_at: int


class BundleListOut(Schema):
    bundles: list[BundleOut]
