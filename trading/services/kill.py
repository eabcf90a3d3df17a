"""The kill switch: stop everything of a client in the key's mode, graphs, algos and (live keys)
every open order at every connected venue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from sequence_site.realtime import nudge_edges_on_commit
from sequence_site.scope import Scope
from trading.lifecycle import GraphStatus, OrderDesired, OrderStatus, graph_transition
from trading.models import Graph, Order, VenueCredential
from trading.services.graphs import graph_wind_down


@dataclass(slots=True)
class KillResult:
    graphs_cancelled: list[str] = field(default_factory=list)
    algos_stopped: list[str] = field(default_factory=list)
    # per venue: the venue order ids the venue cancelled, or the error that stopped it
    venues: list[dict[str, Any]] = field(default_factory=list)


def kill_switch(*, scope: Scope) -> KillResult:
    """Stop everything of the client in the key's mode: cancel its active graphs (their open
    orders turn desired ``cancel``, so the live edge will never send an unsent one), stop its
    algos, and (live keys only) ask every connected venue to cancel every open order of the
    client's account there (`OrderClient.cancel_all`), now, from this process, so the kill does not
    wait for an edge. Answers with what it cancelled and where it could not."""
    result = KillResult()
    # The graphs first (committed: no edge sends an unsent order of theirs after this), then the
    # venues are called from here, and only then are the edges nudged: a live edge woken at once
    # would race this process to the same cancels, and the answer would miss what it took.
    to_nudge: dict[bool, set[str]] = {True: set(), False: set()}
    with transaction.atomic():
        for graph in Graph.objects.select_for_update().filter(
            client=scope.client, is_sandbox=scope.is_sandbox, status=GraphStatus.ACTIVE
        ):
            graph_transition(graph, to=GraphStatus.CANCELLED, reason="kill switch")
            to_nudge[graph.paper] |= graph_wind_down(graph, reason="kill switch", nudge=False)
            result.graphs_cancelled.append(graph.graph_id)
    try:
        _kill_algos_and_venues(scope, result)
    finally:
        for paper, venues in to_nudge.items():
            if venues:
                nudge_edges_on_commit(venues=venues, is_sandbox=paper)  # outside a transaction: now
    return result


def _kill_algos_and_venues(scope: Scope, result: KillResult) -> None:
    from algo_studio.models import Deployment
    from algo_studio.services import deployment_stop

    deployments = (
        Deployment.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox, deleted_at__isnull=True)
        .filter(edge_rows__removed=False, edge_rows__desired_state="running")
        .distinct()
    )
    for deployment in deployments:
        if deployment_stop(deployment=deployment, actor="kill switch"):
            result.algos_stopped.append(deployment.deployment_id)
    if not scope.is_sandbox:
        # Live algos' open orders: never sent if not sent yet, cancelled by the live edge (the
        # cancel_all below is the immediate half; the edge's pass records each order's end).
        with transaction.atomic():
            algo_orders = Order.objects.filter(
                client=scope.client,
                paper=False,
                graph__isnull=True,
                status__in=[OrderStatus.NEW, OrderStatus.WORKING],
            )
            venues = set(algo_orders.values_list("venue", flat=True))
            if algo_orders.update(desired_state=OrderDesired.CANCEL):
                nudge_edges_on_commit(venues=venues, is_sandbox=False)
    if scope.is_sandbox:
        return  # a sandbox key never reaches a venue
    from trading.credentials import order_client, venue_credentials_open
    from venues.orders import OrderError

    for cred in VenueCredential.objects.filter(client=scope.client).order_by("venue"):
        entry: dict[str, Any] = {"venue": cred.venue, "cancelled": [], "error": None}
        opened = venue_credentials_open(client_id=scope.client.pk, venue=cred.venue)
        if opened is None:
            continue
        try:
            client = order_client(cred.venue, opened[0])
            try:
                entry["cancelled"] = client.cancel_all()
                # An order the live edge was sending while this ran may have landed after the
                # cancel: look once more, and say what is still open.
                left = client.open_orders()
                if left:
                    entry["cancelled"] += client.cancel_all()
                    left = client.open_orders()
                if left:
                    entry["still_open"] = [o.venue_order_id for o in left]
                    entry["error"] = f"{len(left)} order(s) still open; the live edge keeps cancelling"
            finally:
                client.close()
        except OrderError as exc:
            entry["error"] = f"{exc.code}: {exc.venue_message}"
        except (OSError, TimeoutError) as exc:
            entry["error"] = f"unreachable ({type(exc).__name__}); the live edge keeps cancelling"
        result.venues.append(entry)
