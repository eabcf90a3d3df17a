"""The edge registry: which venue edges exist, in which mode, and whether they are alive."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone

# An edge heartbeats every second; three missed beats and more means it is gone.
EDGE_STALE_AFTER = timedelta(seconds=5)


class EdgeQuerySet(models.QuerySet["Edge"]):
    def connected(self) -> EdgeQuerySet:
        return self.filter(last_heartbeat__gte=timezone.now() - EDGE_STALE_AFTER)


class Edge(models.Model):
    """One venue edge process (``venue-edge-kraken``), sandbox or live.

    The same ``edge_id`` exists once per mode: a sandbox edge and a live edge for one venue are
    two rows, two processes, and never share a deployment.
    """

    edge_id = models.CharField(max_length=100)
    venue = models.CharField(max_length=40)
    is_sandbox = models.BooleanField()
    algo_capable = models.BooleanField(default=True)
    symbols = models.JSONField(default=list)  # what the edge can trade, canonical form
    host = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    version = models.CharField(max_length=40, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    # Where its market data comes from: "sim" (the seeded simulator) or "live" (the venue's public
    # feed, venues/live), and that feed's health as the edge last reported it.
    feed = models.CharField(max_length=8, default="sim")
    feed_status = models.JSONField(default=dict, blank=True)

    objects = EdgeQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["edge_id", "is_sandbox"], name="edge_unique_per_mode")]
        indexes = [models.Index(fields=["is_sandbox", "venue"])]

    def __str__(self) -> str:
        return f"{self.edge_id} ({'sandbox' if self.is_sandbox else 'live'})"

    @property
    def is_connected(self) -> bool:
        return self.last_heartbeat is not None and self.last_heartbeat >= timezone.now() - EDGE_STALE_AFTER


class VenueMarket(models.Model):
    """One entry of a live venue's catalogue as last synced (edges/catalogue.py): a prediction
    market (`kind` "prediction", `data` = the `PredictionMarket`'s fields) or a spot pair (`kind`
    "spot", `data` = its rules). /v1/markets answers from these rows for a venue whose feed is live;
    the simulated catalogue (venues/instruments.py) answers otherwise."""

    venue = models.CharField(max_length=40)
    key = models.CharField(max_length=255)  # the market's ticker or token id, or the pair's symbol
    kind = models.CharField(max_length=16)
    position = models.IntegerField()  # the venue's own order, kept for ties in sorting
    data = models.JSONField()
    synced_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["venue", "key"], name="venue_market_unique")]
        indexes = [models.Index(fields=["venue", "position"])]

    def __str__(self) -> str:
        return f"{self.venue}:{self.key}"
