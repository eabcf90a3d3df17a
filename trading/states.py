"""Execution graphs' states: graphs, nodes, orders, an order's desired state, and node triggers
(trading/lifecycle.py moves between them). Imports nothing of its app, so the models and the state
machine both read it and neither imports the other back."""

from __future__ import annotations

from django.db import models


class GraphStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class NodeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    WORKING = "working", "Working"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"


class OrderStatus(models.TextChoices):
    NEW = "new", "New"
    WORKING = "working", "Working"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"


class OrderDesired(models.TextChoices):
    WORKING = "working", "Working"
    CANCEL = "cancel", "Cancel"


class Trigger(models.TextChoices):
    """When a child node activates: on its parent's first fill (``filled``) or once the parent is
    completely filled (``completed``)."""

    FILLED = "filled", "Parent filled (any quantity)"
    COMPLETED = "completed", "Parent completely filled"
