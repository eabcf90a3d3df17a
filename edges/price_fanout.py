"""Live price fan-out from an edge to `/v1/stream` subscribers, off the edge's loop.

The edge's quote timer (every 200 ms) hands over the books that changed; a background thread with
its own asyncio loop sends one channel-layer group message per changed symbol. The hand-over is a
dict keyed by group, so if sending falls behind, a newer book replaces the unsent older one
(conflation) and the edge's loop never waits on Redis for the stream.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from channels.layers import get_channel_layer

from trading.stream import price_event

logger = logging.getLogger(__name__)


class PriceFanout:
    def __init__(self) -> None:
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edge-price-fanout", daemon=True)
        self._thread.start()

    def publish(self, *, is_sandbox: bool, quotes: dict[str, dict[str, Any]]) -> None:
        """`quotes`: field -> quote_payload, as the edge writes them (as JSON) to the quote hash."""
        if not quotes:
            return
        with self._lock:
            for payload in quotes.values():
                group, message = price_event(is_sandbox=is_sandbox, payload=payload)
                self._pending[group] = message
        self._wake.set()

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()

    def _take(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            batch, self._pending = self._pending, {}
        return batch

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        try:
            while not self._stopping.is_set():
                self._wake.wait(1.0)
                self._wake.clear()
                batch = self._take()
                if not batch:
                    continue
                try:
                    loop.run_until_complete(self._send(layer, batch))
                except Exception:
                    logger.warning("price fan-out failed; the next books will be sent", exc_info=True)
        finally:
            loop.close()

    async def _send(self, layer: Any, batch: dict[str, dict[str, Any]]) -> None:
        for group, message in batch.items():
            await layer.group_send(group, message)
