"""Every write about algos: artifacts, bundles, deployments and their lifecycle, and what edges report.

The REST API (v1 by symbol and v2 by id), Algo Studio's buttons, the CLI (through the API) and the
edge worker all call these functions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from algo_studio import selectors
from algo_studio.compile_pool import validate_upload
from algo_studio.lifecycle import DesiredState, transition
from algo_studio.models import (
    AlgoLog,
    AlgoTrace,
    Bundle,
    Deployment,
    DeploymentEdge,
    DeploymentSymbol,
    DeploymentTransition,
    MetricSample,
    WasmArtifact,
)
from edges.models import Edge
from edges.runtime import AlgoValidationError
from sequence_site.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, VenueNotConnected
from sequence_site.realtime import nudge_edges_on_commit, publish_on_commit
from sequence_site.scope import Scope
from sequence_site.symbols import parse_symbol
from venues.instruments import VENUES

MAX_WASM_BYTES = 1024 * 1024
MAX_SYMBOLS_PER_DEPLOYMENT = 50


@dataclass(frozen=True, slots=True)
class DeployResult:
    deployment: Deployment
    pushed_to: int
    capable_edges: int
    warnings: list[str] = field(default_factory=list)  # first orders the venue would refuse

    def status_sentence(self, *, running: bool) -> str:
        """The spec's deploy status, shown by the API and Algo Studio alike."""
        pushed = f"deployed (pushed to {self.pushed_to}/{self.capable_edges} capable edges)"
        return f"{pushed} - running" if running else f"{pushed} - stopped (click Start to begin)"


# -- artifacts ----------------------------------------------------------------------------------


def wasm_too_large(size: int) -> PayloadTooLarge:
    """The one refusal of an oversize module (API 413, dashboard and CLI say the same)."""
    return PayloadTooLarge(
        f"The WASM binary is {size:,} bytes, over the 1 MiB limit ({MAX_WASM_BYTES:,} bytes).",
        details={"size_bytes": size, "limit_bytes": MAX_WASM_BYTES},
    )


def wasm_from_base64(text: str) -> bytes:
    """Strict base64 -> bytes, refusing anything over 1 MiB before decoding all of it."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("wasm_base64 is empty: send the base64-encoded .wasm file.")
    compact = "".join(text.split())
    size = len(compact) * 3 // 4 - compact.count("=")
    if size > MAX_WASM_BYTES:
        raise wasm_too_large(size)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("wasm_base64 is not valid base64.") from None


def artifact_store(*, client: Any, wasm: bytes) -> WasmArtifact:
    """Validate a .wasm binary against the algo ABI and store it once per client (by sha256)."""
    if len(wasm) > MAX_WASM_BYTES:
        raise wasm_too_large(len(wasm))
    try:
        info = validate_upload(wasm)  # in a worker process, off the request path
    except AlgoValidationError as exc:
        raise InvalidInput(f"Invalid algo: {exc}") from None
    sha256 = hashlib.sha256(wasm).hexdigest()
    artifact, _ = WasmArtifact.objects.get_or_create(
        client=client,
        sha256=sha256,
        defaults={"size_bytes": len(wasm), "wasm": wasm, "abi_version": info.abi_version},
    )
    return artifact


def bundle_create(*, scope: Scope, wasm: bytes, name: str = "") -> Bundle:
    artifact = artifact_store(client=scope.client, wasm=wasm)
    return Bundle.objects.create(
        client=scope.client, is_sandbox=scope.is_sandbox, name=name.strip(), artifact=artifact
    )


def bundle_delete(*, bundle: Bundle) -> None:
    """Deployments made from a bundle keep running: they reference the artifact, not the bundle."""
    Bundle.objects.filter(pk=bundle.pk).update(deleted_at=timezone.now())


# -- deploying ----------------------------------------------------------------------------------


def _parse_symbols(symbols: Iterable[str]) -> list[str]:
    parsed: list[str] = []
    for text in symbols:
        symbol = parse_symbol(text).slash
        if symbol not in parsed:
            parsed.append(symbol)
    if not parsed:
        raise InvalidInput("symbols is empty: name at least one trading pair, e.g. BTC-USD.")
    if len(parsed) > MAX_SYMBOLS_PER_DEPLOYMENT:
        raise InvalidInput(f"At most {MAX_SYMBOLS_PER_DEPLOYMENT} symbols per deployment.")
    return parsed


def _check_venue(venue: str | None) -> str | None:
    if venue is None or venue == "":
        return None
    venue = venue.strip().lower()
    if venue not in VENUES:
        raise InvalidInput(f"Unknown venue {venue!r}: expected one of {', '.join(sorted(VENUES))}.")
    return venue


def capable_edges(*, is_sandbox: bool, venue: str | None = None) -> QuerySet[Edge]:
    """Connected algo-capable edges of a mode (and venue)."""
    edges = Edge.objects.connected().filter(is_sandbox=is_sandbox, algo_capable=True)
    return edges.filter(venue=venue) if venue else edges


def _ensure_edge_rows(
    deployment: Deployment, symbols: list[str], edges: Iterable[Edge], desired: DesiredState
) -> tuple[int, set[str]]:
    """Create the (edge, symbol) rows missing for ``edges``. Returns (edges reached, their venues)."""
    reached, venues = 0, set()
    for edge in edges:
        tradable = [s for s in symbols if s in set(edge.symbols)]
        if not tradable:
            continue
        reached += 1
        venues.add(edge.venue)
        for symbol in tradable:
            DeploymentEdge.objects.get_or_create(
                deployment=deployment, edge=edge, symbol=symbol, defaults={"desired_state": desired}
            )
    return reached, venues


def _record(
    deployment: Deployment,
    action: str,
    *,
    to_state: str = "",
    venue: str | None = None,
    edges_notified: int = 0,
    actor: str = "",
) -> None:
    DeploymentTransition.objects.create(
        deployment=deployment,
        action=action,
        to_state=to_state,
        venue=venue,
        edges_notified=edges_notified,
        actor=actor,
    )
    publish_on_commit(
        f"deployment.{deployment.id}",
        {"type": "deployment.changed", "deployment_id": deployment.deployment_id, "action": action},
    )


def deployment_create(
    *,
    scope: Scope,
    symbols: list[str],
    wasm: bytes | None = None,
    bundle_id: str | None = None,
    name: str | None = None,
    venue: str | None = None,
    start_immediately: bool = False,
    actor: str = "",
) -> DeployResult:
    """Deploy an algo on ``symbols`` to every connected algo-capable edge of the scope's mode that
    trades them (or only ``venue``'s). Stopped unless ``start_immediately``.

    400 when no capable edge is connected or none trades the symbols; 409 when a symbol already
    belongs to another deployment of this client and mode.
    """
    parsed = _parse_symbols(symbols)
    venue = _check_venue(venue)
    if (wasm is None) == (bundle_id is None):
        raise InvalidInput("Send exactly one of wasm_base64 or bundle_id.")
    # Refuse before storing anything: a failed deploy changes nothing.
    edges = list(capable_edges(is_sandbox=scope.is_sandbox, venue=venue))
    _require_edges(edges, scope=scope, venue=venue, symbols=parsed)
    edges = _connected_edges(edges, scope=scope)
    _require_free_symbols(scope, parsed)
    bundle = None
    if bundle_id is not None:
        bundle = selectors.bundle_get(scope=scope, bundle_id=bundle_id)
        artifact = bundle.artifact
    else:
        assert wasm is not None
        artifact = artifact_store(client=scope.client, wasm=wasm)
    desired = DesiredState.RUNNING if start_immediately else DesiredState.STOPPED
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(
                client=scope.client,
                is_sandbox=scope.is_sandbox,
                name=_clean_name(name),
                artifact=artifact,
                bundle=bundle,
                venue=venue,
            )
            DeploymentSymbol.objects.bulk_create(
                DeploymentSymbol(
                    deployment=deployment,
                    client=scope.client,
                    is_sandbox=scope.is_sandbox,
                    symbol=symbol,
                    position=i,
                )
                for i, symbol in enumerate(parsed)
            )
            pushed_to, venues = _ensure_edge_rows(deployment, parsed, edges, desired)
            _record(
                deployment, "deploy", to_state=desired, venue=venue, edges_notified=pushed_to, actor=actor
            )
            nudge_edges_on_commit(venues=venues, is_sandbox=scope.is_sandbox)
    except IntegrityError:  # a concurrent deploy took a symbol between the check and the insert
        _require_free_symbols(scope, parsed)
        raise
    return DeployResult(
        deployment=deployment,
        pushed_to=pushed_to,
        capable_edges=len(edges),
        warnings=deployment_first_order_warnings(deployment=deployment),
    )


def deployment_first_order_warnings(
    *, deployment: Deployment, venue: str | None = None, symbol: str | None = None
) -> list[str]:
    """Would the venues refuse this deployment's first orders? A dry run of the algo on a simulated
    book of each (venue, symbol) it is deployed on (algo_studio/preflight.py); warnings, never a
    refusal. Shown by the API, the CLI and Algo Studio at deploy and at start."""
    from algo_studio.preflight import first_order_warnings

    rows = deployment.edge_rows.filter(removed=False).select_related("edge")
    pairs = sorted(
        {
            (row.edge.venue, row.symbol)
            for row in rows
            if (venue is None or row.edge.venue == venue) and (symbol is None or row.symbol == symbol)
        }
    )
    if not pairs:
        return []
    return first_order_warnings(wasm=bytes(deployment.artifact.wasm), venue_symbols=pairs)


def _clean_name(name: str | None) -> str | None:
    """A deployment's name without surrounding spaces; None (no name) when nothing is left."""
    return (name or "").strip() or None


def _require_free_symbols(scope: Scope, symbols: list[str]) -> None:
    taken = selectors.active_symbol(scope=scope, symbols=symbols)
    if taken is not None:
        raise Conflict(
            f"{taken.symbol} is already deployed by {taken.deployment.deployment_id}: "
            "delete that deployment first, or deploy a new version to it."
        )


def _connected_edges(edges: list[Edge], *, scope: Scope) -> list[Edge]:
    """A live deployment goes only to the venues the client connected (its algo trades there with
    the client's credentials: docs/trading-live.md); 422 ``venue_not_connected`` when none is."""
    if scope.is_sandbox:
        return edges
    from trading.models import VenueCredential

    venues = sorted({e.venue for e in edges})
    connected = set(
        VenueCredential.objects.filter(client=scope.client, venue__in=venues).values_list("venue", flat=True)
    )
    kept = [e for e in edges if e.venue in connected]
    if not kept:
        raise VenueNotConnected(
            f"no credentials for {', '.join(venues)}: a live algo trades with your own account there; "
            f"connect it first with `sequence connect {venues[0]}`"
        )
    return kept


def _require_edges(edges: list[Edge], *, scope: Scope, venue: str | None, symbols: list[str]) -> None:
    mode = "sandbox" if scope.is_sandbox else "live"
    if not edges:
        where = f" for venue {venue}" if venue else ""
        raise InvalidInput(f"No algo-capable {mode} edges are connected{where}: nothing to deploy to.")
    traded = {s for edge in edges for s in edge.symbols}
    if not any(symbol in traded for symbol in symbols):
        # Say what is traded, so the user can pick a symbol that works.
        tradable = ", ".join(sorted(traded)) or "nothing"
        raise InvalidInput(
            f"No connected {mode} edge trades {', '.join(symbols)}. Tradable on connected {mode} "
            f"edges{f' for venue {venue}' if venue else ''}: {tradable}."
        )


def algo_deploy(
    *,
    scope: Scope,
    symbol: str,
    wasm: bytes,
    start_immediately: bool = False,
    venue: str | None = None,
    actor: str = "",
) -> DeployResult:
    """The per-symbol deploy of /v1/algos/deploy: a new deployment of one symbol, or a new version of
    the one-symbol deployment already there (same id, new artifact, edges reload it)."""
    parsed = parse_symbol(symbol).slash
    taken = selectors.active_symbol(scope=scope, symbols=[parsed])
    if taken is None:
        return deployment_create(
            scope=scope,
            symbols=[parsed],
            wasm=wasm,
            venue=venue,
            start_immediately=start_immediately,
            actor=actor,
        )
    existing = taken.deployment
    if existing.symbol_rows.count() != 1:
        raise Conflict(
            f"{parsed} belongs to the multi-symbol deployment {existing.deployment_id}: "
            "manage it with /v1/deployments."
        )
    return deployment_redeploy(
        deployment=existing, wasm=wasm, venue=venue, start_immediately=start_immediately, actor=actor
    )


def deployment_redeploy(
    *,
    deployment: Deployment,
    wasm: bytes,
    venue: str | None = None,
    start_immediately: bool = False,
    actor: str = "",
) -> DeployResult:
    """A new version of a deployment's artifact: edges reload it, stopped unless start_immediately."""
    venue = _check_venue(venue)
    scope = Scope(client=deployment.client, is_sandbox=deployment.is_sandbox)
    symbols = list(deployment.symbol_rows.values_list("symbol", flat=True))
    edges = list(capable_edges(is_sandbox=deployment.is_sandbox, venue=venue))
    _require_edges(edges, scope=scope, venue=venue, symbols=symbols)
    edges = _connected_edges(edges, scope=scope)
    artifact = artifact_store(client=deployment.client, wasm=wasm)
    desired = DesiredState.RUNNING if start_immediately else DesiredState.STOPPED
    with transaction.atomic():
        Deployment.objects.filter(pk=deployment.pk).update(
            artifact=artifact, venue=venue, modified_at=timezone.now()
        )
        deployment.refresh_from_db()
        pushed_to, venues = _ensure_edge_rows(deployment, symbols, edges, desired)
        rows = deployment.edge_rows.all()
        if venue:
            # Targeting one venue now: the others are undeployed.
            rows.exclude(edge__venue=venue).update(removed=True, generation=F("generation") + 1)
            rows = rows.filter(edge__venue=venue)
        rows.update(removed=False, desired_state=desired, generation=F("generation") + 1)
        venues |= set(deployment.edge_rows.values_list("edge__venue", flat=True))
        _record(deployment, "redeploy", to_state=desired, venue=venue, edges_notified=pushed_to, actor=actor)
        nudge_edges_on_commit(venues=venues, is_sandbox=deployment.is_sandbox)
    return DeployResult(
        deployment=deployment,
        pushed_to=pushed_to,
        capable_edges=len(edges),
        warnings=deployment_first_order_warnings(deployment=deployment),
    )


def algo_delete(*, scope: Scope, symbol: str, venue: str | None = None, actor: str = "") -> bool:
    """The per-symbol delete of DELETE /v1/algos/{symbol}: only a one-symbol deployment goes this
    way (409 for a multi-symbol one). Returns what ``deployment_delete`` returns."""
    deployment = selectors.deployment_for_symbol(scope=scope, symbol=symbol)
    if len(selectors.deployment_symbols(deployment)) > 1:
        raise Conflict(
            f"{parse_symbol(symbol).slash} is part of the multi-symbol deployment "
            f"{deployment.deployment_id}: delete it with DELETE /v1/deployments/{{deployment_id}}."
        )
    return deployment_delete(deployment=deployment, venue=venue, actor=actor)


# -- lifecycle ----------------------------------------------------------------------------------


def _target_rows(
    deployment: Deployment, *, venue: str | None, symbol: str | None = None
) -> QuerySet[DeploymentEdge]:
    rows = deployment.edge_rows.filter(removed=False)
    if venue:
        rows = rows.filter(edge__venue=venue)
    if symbol:
        rows = rows.filter(symbol=symbol)
    return rows


def _set_desired(
    deployment: Deployment, to: DesiredState, *, venue: str | None, symbol: str | None, actor: str
) -> int:
    venue = _check_venue(venue)
    if deployment.deleted_at is not None:
        raise NotFound(f"Deployment {deployment.deployment_id} was deleted.")
    with transaction.atomic():
        if to == DesiredState.RUNNING and (venue is None or deployment.venue in (None, venue)):
            # Starting also pushes to capable edges that connected after the deploy.
            symbols = [symbol] if symbol else list(deployment.symbol_rows.values_list("symbol", flat=True))
            edges = capable_edges(is_sandbox=deployment.is_sandbox, venue=venue or deployment.venue)
            _ensure_edge_rows(deployment, symbols, edges, DesiredState.STOPPED)
        rows = _target_rows(deployment, venue=venue, symbol=symbol)
        if not rows.exists():
            where = f" on venue {venue}" if venue else ""
            raise InvalidInput(f"Deployment {deployment.deployment_id} is on no edge{where}.")
        venues = set(rows.values_list("edge__venue", flat=True))
        notified = transition(rows, to=to)
        if to == DesiredState.RUNNING:
            rows.update(started_at=None)
        _record(
            deployment,
            "start" if to == DesiredState.RUNNING else "stop",
            to_state=to,
            venue=venue,
            edges_notified=notified,
            actor=actor,
        )
        nudge_edges_on_commit(venues=venues, is_sandbox=deployment.is_sandbox)
    return notified


def deployment_start(
    *, deployment: Deployment, venue: str | None = None, symbol: str | None = None, actor: str = ""
) -> int:
    """Start (or re-arm after a pause) on every edge, or one venue's. Returns the edges notified."""
    return _set_desired(deployment, DesiredState.RUNNING, venue=venue, symbol=symbol, actor=actor)


def deployment_stop(
    *, deployment: Deployment, venue: str | None = None, symbol: str | None = None, actor: str = ""
) -> int:
    """Stop on every edge, or one venue's; the algo's state (position, PnL) is kept."""
    return _set_desired(deployment, DesiredState.STOPPED, venue=venue, symbol=symbol, actor=actor)


def deployment_rename(*, deployment: Deployment, name: str | None, actor: str = "") -> Deployment:
    """Blank or all-space ``name`` clears it."""
    name = _clean_name(name)
    if name is not None and len(name) > 200:
        raise InvalidInput("A deployment name is at most 200 characters.")
    with transaction.atomic():
        Deployment.objects.filter(pk=deployment.pk).update(name=name, modified_at=timezone.now())
        deployment.refresh_from_db()
        _record(deployment, "rename", actor=actor)
    return deployment


def deployment_delete(*, deployment: Deployment, venue: str | None = None, actor: str = "") -> bool:
    """Stop at once on every edge (or one venue's) and remove the logs, traces and metrics.

    Without ``venue`` (or when the venue was its last), the deployment leaves every listing and its
    symbols are free for a new deployment. Cannot be undone. Returns True when the whole deployment
    went away.
    """
    venue = _check_venue(venue)
    with transaction.atomic():
        # Edges lock the deployment row while storing a log batch: holding it here means no batch
        # lands between removing the logs and committing (see edges.services.edge_logs_flush).
        Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
        rows = _target_rows(deployment, venue=venue)
        venues = set(rows.values_list("edge__venue", flat=True))
        rows.update(removed=True, desired_state=DesiredState.STOPPED, generation=F("generation") + 1)
        whole = venue is None or not deployment.edge_rows.filter(removed=False).exists()
        if whole:
            Deployment.objects.filter(pk=deployment.pk).update(deleted_at=timezone.now())
            DeploymentSymbol.objects.filter(deployment=deployment).update(active=False)
            AlgoLog.objects.filter(deployment=deployment).delete()
            AlgoTrace.objects.filter(deployment=deployment).delete()
            MetricSample.objects.filter(deployment=deployment).delete()
        else:
            edge_ids = set(
                deployment.edge_rows.filter(edge__venue=venue).values_list("edge__edge_id", flat=True)
            )
            for model in (AlgoLog, AlgoTrace, MetricSample):
                model.objects.filter(deployment=deployment, edge_id__in=edge_ids).delete()
        _record(deployment, "delete", venue=venue, actor=actor)
        if whole:
            publish_on_commit(f"deployment.{deployment.id}.logs", {"type": "deployment.deleted"})
        nudge_edges_on_commit(venues=venues, is_sandbox=deployment.is_sandbox)
    return whole
