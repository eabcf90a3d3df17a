"""WASM artifacts, bundles and deployments, and what edges report about them.

One model underneath both faces of the API: `/v1/algos/{symbol}` (v1, by symbol) and
`/v1/deployments/{id}` (v2, by id) read and write the same `Deployment` rows.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from algo_studio.lifecycle import DesiredState, EdgeStatus
from sequence_site.models import Client


def _bundle_id() -> str:
    return f"bun_{uuid.uuid4().hex[:12]}"


class WasmArtifact(models.Model):
    """A validated .wasm binary, stored once per client by content hash."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="wasm_artifacts")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField()
    wasm = models.BinaryField()
    abi_version = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "sha256"], name="artifact_unique_per_client")
        ]

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size_bytes} B)"


class Bundle(models.Model):
    """A registered artifact that deployments reference by ``bundle_id`` instead of uploading it."""

    id = models.CharField(primary_key=True, max_length=20, default=_bundle_id, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="bundles")
    is_sandbox = models.BooleanField()
    name = models.CharField(max_length=200, blank=True)
    # RESTRICT: an artifact in use can't be deleted on its own, but goes with its client.
    artifact = models.ForeignKey(WasmArtifact, on_delete=models.RESTRICT, related_name="bundles")
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.id


class Deployment(models.Model):
    """One algo artifact deployed on one or more symbols, for one client in one mode."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="deployments")
    is_sandbox = models.BooleanField()
    name = models.CharField(max_length=200, null=True, blank=True)
    artifact = models.ForeignKey(WasmArtifact, on_delete=models.RESTRICT, related_name="deployments")
    bundle = models.ForeignKey(Bundle, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    venue = models.CharField(max_length=40, null=True, blank=True)  # None: every algo-capable venue
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["client", "is_sandbox", "deleted_at"])]

    def __str__(self) -> str:
        return self.deployment_id

    @property
    def deployment_id(self) -> str:
        return f"dep_{self.id}"


class DeploymentSymbol(models.Model):
    """A symbol of a deployment. A symbol belongs to at most one live deployment per client and
    mode: two algos on one symbol of one account would trade against each other's position."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="symbol_rows")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    is_sandbox = models.BooleanField()
    symbol = models.CharField(max_length=64)  # canonical slash form, e.g. BTC/USD
    position = models.PositiveSmallIntegerField(default=0)  # order as given by the user
    active = models.BooleanField(default=True)  # False once the deployment is deleted

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "is_sandbox", "symbol"],
                condition=Q(active=True),
                name="one_active_deployment_per_symbol",
            )
        ]


class DeploymentEdge(models.Model):
    """A deployment's symbol on one edge: the desired state users set, and the state the edge reports.

    Services write ``desired_state``/``generation``; the edge writes the observed columns with
    ``update(...)`` of those columns only, so the two writers never overwrite each other.
    """

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="edge_rows")
    edge = models.ForeignKey("edges.Edge", on_delete=models.CASCADE, related_name="deployment_rows")
    symbol = models.CharField(max_length=64)
    deploy_id = models.UUIDField(default=uuid.uuid4, editable=False)

    # desired (services)
    desired_state = models.CharField(
        max_length=16, choices=DesiredState.choices, default=DesiredState.STOPPED
    )
    generation = models.PositiveIntegerField(default=1)
    removed = models.BooleanField(default=False)  # undeployed from this edge; the edge unloads it

    # observed (the edge)
    applied_generation = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=EdgeStatus.choices, default=EdgeStatus.PENDING)
    pause_reason = models.TextField(null=True, blank=True)
    deployed_at = models.DateTimeField(auto_now_add=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    position_1e8 = models.BigIntegerField(default=0)
    # The position's average entry price (0 when flat): with the PnL figures it is what an edge that
    # restarts (its paper state lives in the process) restores the algo's position from.
    avg_entry_price_1e9 = models.BigIntegerField(default=0)
    realized_pnl_1e9 = models.BigIntegerField(default=0)
    session_realized_pnl_1e9 = models.BigIntegerField(default=0)
    unrealized_pnl_1e9 = models.BigIntegerField(default=0)
    callback_latency_ns = models.BigIntegerField(default=0)
    update_count = models.BigIntegerField(default=0)
    order_count = models.BigIntegerField(default=0)
    fill_count = models.BigIntegerField(default=0)
    reject_count = models.BigIntegerField(default=0)
    trade_count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "edge", "symbol"], name="deployment_edge_symbol_unique"
            )
        ]
        indexes = [models.Index(fields=["edge", "removed"])]

    @property
    def effective_status(self) -> str:
        """``pending`` until the edge has applied the latest desired state, then what it reported."""
        if self.applied_generation < self.generation:
            return EdgeStatus.PENDING
        return self.status

    @property
    def pnl_1e9(self) -> int:
        """Total PnL: realized plus unrealized."""
        return self.realized_pnl_1e9 + self.unrealized_pnl_1e9


class DeploymentTransition(models.Model):
    """History of user actions on a deployment: evidence for tests, a timeline for the UI."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="transitions")
    action = models.CharField(max_length=16)  # deploy, start, stop, rename, delete, redeploy
    to_state = models.CharField(max_length=16, blank=True)
    venue = models.CharField(max_length=40, null=True, blank=True)
    edges_notified = models.PositiveIntegerField(default=0)
    actor = models.CharField(max_length=120, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]


class AlgoLog(models.Model):
    """A log line from an algo's ``log()`` or from the edge about it (orders, fills, pauses)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="logs")
    edge_id = models.CharField(max_length=100)
    symbol = models.CharField(max_length=64)
    ts_ns = models.BigIntegerField()
    level = models.CharField(max_length=5)
    message = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["deployment", "-id"])]


class AlgoTrace(models.Model):
    """A sampled callback: its inputs, the actions it took, its logs and its latency."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="traces")
    edge_id = models.CharField(max_length=100)
    symbol = models.CharField(max_length=64)
    callback_type = models.CharField(max_length=16)
    ts_ns = models.BigIntegerField()
    latency_ns = models.BigIntegerField()
    input = models.JSONField(default=dict)
    output = models.JSONField(default=dict)
    logs = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["deployment", "callback_type", "-id"])]


class MetricSample(models.Model):
    """One edge's reading of one (deployment, symbol), taken about once a second."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="metric_samples")
    edge_id = models.CharField(max_length=100)
    symbol = models.CharField(max_length=64)
    ts = models.DateTimeField()
    position_1e8 = models.BigIntegerField()
    realized_pnl_1e9 = models.BigIntegerField()
    unrealized_pnl_1e9 = models.BigIntegerField()
    callback_latency_ns = models.BigIntegerField()
    fill_count = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["deployment", "ts"])]
