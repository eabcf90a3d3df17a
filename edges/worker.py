"""The edge worker: one venue, one mode. Reconciles algos to the database, feeds them market data,
reports what they do.

The tick path (`EdgeWorker.step`) touches no database: it polls the venue adapter and calls
`AlgoSlot.on_book`. Everything else (reconcile, reports, log batches, quotes) runs on timers in
`EdgeRunner.run`, a loop that can drive several edges for `make run`; in production each venue's
edge is its own process on its own host (`manage.py run_edge --venue kraken --live`).

A live feed's books take no thread hop: the feed thread itself runs `EdgeWorker.step` after each read
from the venue's socket (`EdgeRunner._feed_step`), under the runner's lock, which the loop holds for
everything it does but sleep. When the loop holds it, the feed leaves the books pending (the latest
per symbol) and wakes the loop, which steps them as soon as its pass ends.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from django.db import close_old_connections

from edges import services
from edges.core.instance import native_book_calls
from edges.dispatch import AlgoSlot, CarriedPosition, SlotState
from edges.feeds import venue_feed_config
from edges.graph_orders import GraphOrders
from edges.models import Edge
from edges.price_fanout import PriceFanout
from edges.quotes import quote_payload, quotes_key, write_quotes
from edges.runtime import AlgoLoadError, CompiledAlgo, load_module
from edges.selectors import Assignment, artifact_bytes, edge_assignments
from edges.services import AlgoReport, LogLine, TraceRecord
from sequence_site.realtime import edge_nudge_channel
from venues.instruments import PREDICTION_VENUES, SPOT_VENUES, instruments_for_venue
from venues.live.book import native_books
from venues.marketdata.store import Recorder
from venues.paper import DEFAULT_PAPER_SEED
from venues.sim.adapter import SimVenueAdapter

logger = logging.getLogger(__name__)

REPORT_EVERY_NS = 1_000_000_000
METRICS_EVERY_NS = 5_000_000_000
LOG_FLUSH_EVERY_NS = 20_000_000  # logs reach followers within tens of milliseconds
QUOTES_EVERY_NS = 200_000_000
RECORDING_FLUSH_EVERY_NS = 300_000_000_000  # a crash loses at most 5 minutes of recorded books
MAX_LOG_LINES_PER_SECOND = 200  # per algo; beyond it lines are counted and dropped
MAX_MESSAGE_CHARS = 1024
FEED_CHECK_EVERY_NS = 250_000_000  # stale-book checks of live feeds
STALE_BOOK = "stale_book"  # the pause_reason of an algo whose live book stopped changing
# The simulated market's default seed: the same for every edge, so separate venue processes quote one
# market per asset (simulator.ReferencePath) and a restarted edge continues it.
DEFAULT_MARKET_SEED = "sequence-sandbox"


def restart_order_id_base(now_ns: int | None = None) -> int:
    """The first order id of a process that follows another: milliseconds since the epoch x 1000.

    Above every id an earlier process issued (they count from 1, or from their own base, one per
    order: no algo places 1,000 orders per millisecond), and below 2**53 until the 23rd century, so
    ids stay exact as JSON numbers in a browser.
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    return (now_ns // 1_000_000) * 1000


class _Buffer:
    """The edge's log and trace buffer (the `SlotSink` of its slots), with a per-algo rate limit."""

    def __init__(self) -> None:
        self.logs: list[LogLine] = []
        self.traces: list[TraceRecord] = []
        self._window: dict[Any, tuple[int, int, int]] = {}  # key -> (second, lines, dropped)

    def log(self, slot: AlgoSlot, ts_ns: int, level: str, message: str) -> None:
        second = ts_ns // 1_000_000_000
        window_second, lines, dropped = self._window.get(slot.key, (second, 0, 0))
        if window_second != second:
            if dropped:
                self.logs.append(
                    LogLine(
                        slot.key,
                        slot.symbol,
                        ts_ns,
                        "WARN",
                        f"{dropped} log lines dropped (over {MAX_LOG_LINES_PER_SECOND}/s)",
                    )
                )
            window_second, lines, dropped = second, 0, 0
        if lines >= MAX_LOG_LINES_PER_SECOND:
            self._window[slot.key] = (window_second, lines, dropped + 1)
            return
        self._window[slot.key] = (window_second, lines + 1, dropped)
        self.logs.append(LogLine(slot.key, slot.symbol, ts_ns, level, message[:MAX_MESSAGE_CHARS]))

    def trace(self, slot: AlgoSlot, record: dict[str, Any]) -> None:
        self.traces.append(TraceRecord(deployment_id=slot.key, symbol=slot.symbol, **record))

    def take(self) -> tuple[list[LogLine], list[TraceRecord]]:
        logs, traces = self.logs, self.traces
        self.logs, self.traces = [], []
        return logs, traces


class _Held:
    """What the edge holds for one assignment: its slot (None when the module was refused)."""

    __slots__ = (
        "row_id",
        "deployment_id",
        "artifact_id",
        "generation",
        "slot",
        "rejected_reason",
        "started_at",
    )

    def __init__(self, assignment: Assignment) -> None:
        self.row_id = assignment.row_id
        self.deployment_id = assignment.deployment_id
        self.artifact_id = assignment.artifact_id
        self.generation = 0
        self.slot: AlgoSlot | None = None
        self.rejected_reason: str | None = None
        self.started_at: datetime | None = None


def catalogue_version(venue: str) -> Any:
    """When `venue`'s catalogue was last synced (None: never)."""
    from django.db.models import Max

    from edges.models import VenueMarket

    return VenueMarket.objects.filter(venue=venue).aggregate(at=Max("synced_at"))["at"]


def live_prediction_symbols(venue: str, listed: Sequence[str]) -> list[str]:
    """The YES and NO symbols a live Kalshi or Polymarket edge follows: the VENUE_FEED_MAX_MARKETS
    active markets of the synced catalogue (edges/catalogue.py) with the most volume, or, before
    the first sync, the first of `listed` (the venue's own catalogue, fetched by the feed)."""
    from edges.catalogue import stored_markets

    most = settings.VENUE_FEED_MAX_MARKETS
    markets = stored_markets(venue)
    if not markets:
        return list(listed)[: 2 * most]
    chosen = sorted((m for m in markets if m.active), key=lambda m: -(m.volume or 0))[:most]
    return [s for m in chosen for s in (m.yes_token_id, m.no_token_id) if s]


class EdgeWorker:
    """One venue edge in one mode, on the simulated venue (feed "sim") or on the venue's live
    public market data with paper fills (feed "live", sandbox only)."""

    def __init__(
        self,
        *,
        venue: str,
        is_sandbox: bool,
        seed: str | int | None = None,
        mean_interval_ms: float | None = None,
        record_market_data: bool = False,
        feed: str = "sim",
    ) -> None:
        self.venue = venue
        self.is_sandbox = is_sandbox
        self.feed = feed
        self.edge_id = f"venue-edge-{venue}"
        self._catalogue_version: Any = None  # a live prediction edge: the synced catalogue it follows
        self._unfollowed: set[str] = set()  # symbols it stopped following (their quotes removed)
        instruments = [i for i in instruments_for_venue(venue) if i.active]
        self.symbols = [i.symbol for i in instruments]
        # A live edge runs algos in routed mode: their orders go to the venue (edges/live_algos.py),
        # never to paper matching. (run_edge refuses --live for a venue not switched on.)
        self.algo_capable = venue in SPOT_VENUES
        self.adapter: Any
        if feed == "live":
            from venues.live.adapter import LiveVenueAdapter

            live = LiveVenueAdapter(
                venue, venue_feed_config(venue), seed=seed if seed is not None else DEFAULT_PAPER_SEED
            )
            if venue in PREDICTION_VENUES:
                # the venue's own markets (the simulated ones are made up): the most traded first;
                # followed again after each catalogue sync (refresh_feed_symbols)
                self._catalogue_version = catalogue_version(venue)
                self.symbols = live.listed(live_prediction_symbols(venue, live.catalogue_symbols()))
            else:
                # the symbols of the simulated catalogue that the live venue lists, with its own rules
                self.symbols = live.listed(self.symbols)
            live.subscribe(self.symbols)
            self.adapter = live
        else:
            intervals = (
                {s: int(mean_interval_ms * 1_000_000) for s in self.symbols} if mean_interval_ms else None
            )
            self.adapter = SimVenueAdapter(
                venue,
                seed=seed if seed is not None else DEFAULT_MARKET_SEED,
                start_ns=time.time_ns(),
                symbols=self.symbols,
                mean_interval_ns=intervals,
            )
        self.adapter.set_fill_callback(self._on_fill)
        # Execution graphs' orders (trading app): paper-filled by the simulated venue on a sandbox
        # edge; sent to the venue with each client's own credentials on a live one.
        self.graph_orders: Any
        self.router: Any = None  # live algos' orders (edges/live_algos.py)
        if is_sandbox:
            self.graph_orders = GraphOrders(self.adapter)
        else:
            from edges.live_algos import LiveAlgoRouter
            from edges.live_orders import LiveOrders

            self.graph_orders = LiveOrders(venue)
            self.router = LiveAlgoRouter(venue, self.graph_orders)
        self.buffer = _Buffer()
        self.held: dict[int, _Held] = {}
        self.running: dict[str, list[AlgoSlot]] = {}
        self._compiled: dict[int, CompiledAlgo] = {}
        self._dirty_quotes: set[str] = set()
        self.edge: Edge | None = None
        # Market data as it is seen, for backtests of past sessions (venues.marketdata.store). Written
        # from the runner's timer, never from the tick path; flush_rows is only a memory bound.
        self.recorder = (
            Recorder(settings.MARKET_DATA_DIR, venue=venue, flush_rows=500_000)
            if record_market_data
            else None
        )

    # -- hot path ------------------------------------------------------------------------------
    def step(self, now_ns: int, max_events: int = 10_000) -> int:
        """Deliver every market update due by ``now_ns``. Returns how many there were."""
        updates = self.adapter.poll(now_ns, max_events)
        running = self.running
        dirty = self._dirty_quotes
        record = self.recorder.record if self.recorder is not None else None
        for symbol, snap in updates:
            dirty.add(symbol)
            if record is not None:
                record(symbol, snap)  # a list append; files are written by flush_recording()
            slots = running.get(symbol)
            if slots:
                for slot in slots:
                    slot.on_book(snap)
        # An algo that paused itself stays in `running` until the next reconcile re-indexes;
        # AlgoSlot.on_book returns at once for it, cheaper than checking every slot on every poll.
        return len(updates)

    def _on_fill(self, account: str, symbol: str, fill: Any) -> None:
        # Only execution graphs' orders rest in the adapter's engines: an algo's paper orders are
        # matched inside its own core (edges/core), which delivers their fills itself.
        if self.is_sandbox and GraphOrders.owns(account):
            self.graph_orders.on_fill(account, fill)

    def check_feed(self) -> None:
        """Live feeds: pause the running algos whose book went stale (`stale_book`) and resume
        them once it changes again (a fresh snapshot after a reconnect or a resync included)."""
        stale_symbols = getattr(self.adapter, "stale_symbols", None)
        if stale_symbols is None:
            return
        stale = set(stale_symbols())
        changed = False
        for held in self.held.values():
            slot = held.slot
            if slot is None:
                continue
            if slot.state is SlotState.RUNNING and slot.symbol in stale:
                slot.pause(STALE_BOOK)
                changed = True
            elif (
                slot.state is SlotState.PAUSED
                and slot.pause_reason == STALE_BOOK
                and slot.symbol not in stale
            ):
                slot.start(self.adapter.now_ns)
                held.started_at = datetime.now(UTC) if slot.state is SlotState.RUNNING else None
                changed = True
        if changed:
            self._index()

    def feed_status(self) -> dict[str, Any]:
        status = getattr(self.adapter, "feed_status", None)
        out = status() if status is not None else {}  # the simulator has no feed to watch
        if not self.is_sandbox:  # the clients' private order streams (edges/live_orders.py)
            out = {**out, "user_streams": self.graph_orders.stream_status()}
        return out

    def _index(self) -> None:
        running: dict[str, list[AlgoSlot]] = {}
        for held in self.held.values():
            if held.slot is not None and held.slot.state is SlotState.RUNNING:
                running.setdefault(held.slot.symbol, []).append(held.slot)
        self.running = running

    def refresh_feed_symbols(self) -> None:
        """A live Kalshi or Polymarket edge follows the catalogue's most traded markets again once
        it is re-synced: markets that closed or fell out are dropped (unless a paper order rests
        on one), new ones subscribed (their rules from the synced catalogue when the feed's own
        listing, fetched at start, lacks them). Changing the set reconnects the feed."""
        if self.feed != "live" or self.venue not in PREDICTION_VENUES:
            return
        version = catalogue_version(self.venue)
        if version is None or version == self._catalogue_version:
            return
        self._catalogue_version = version
        from edges.catalogue import stored_instrument

        adapter = self.adapter
        wanted = live_prediction_symbols(self.venue, adapter.catalogue_symbols())
        unknown = [s for s in wanted if not adapter.listed([s])]
        adapter.add_instruments([i for s in unknown if (i := stored_instrument(self.venue, s)) is not None])
        in_use = {h.symbol for h in getattr(self.graph_orders, "held", {}).values()}
        symbols = list(dict.fromkeys([*adapter.listed(wanted), *(s for s in self.symbols if s in in_use)]))
        if symbols == self.symbols:
            return
        dropped = [s for s in self.symbols if s not in symbols]
        logger.info(
            "%s: catalogue re-synced: following %d symbols (%d new, %d dropped)",
            self.edge_id,
            len(symbols),
            len(set(symbols) - set(self.symbols)),
            len(dropped),
        )
        adapter.follow(symbols)
        self.symbols = symbols
        self._unfollowed = (self._unfollowed | set(dropped)) - set(symbols)
        if dropped:
            # nobody may quote or trade on a book the edge no longer keeps up to date
            from sequence_site.realtime import redis_client

            redis_client().hdel(
                quotes_key(is_sandbox=self.is_sandbox), *(f"{self.venue}:{s}" for s in dropped)
            )
        if self.edge is not None:
            Edge.objects.filter(pk=self.edge.pk).update(symbols=symbols)

    # -- control (database) --------------------------------------------------------------------
    def register(self) -> None:
        self.edge = services.edge_register(
            edge_id=self.edge_id,
            venue=self.venue,
            is_sandbox=self.is_sandbox,
            symbols=self.symbols,
            algo_capable=self.algo_capable,
            feed=self.feed,
        )

    def reconcile(self) -> None:
        """Load, start, stop and unload algos until the edge holds what the database says."""
        assert self.edge is not None
        assignments = edge_assignments(edge=self.edge) if self.algo_capable else []
        wanted = {a.row_id: a for a in assignments}
        for row_id in [r for r in self.held if r not in wanted]:
            self._unload(row_id)
        now_ns = self.adapter.now_ns
        for assignment in assignments:
            held = self.held.get(assignment.row_id)
            carried: CarriedPosition | None = None
            if held is not None and held.artifact_id != assignment.artifact_id:
                # a new version: load it fresh; the position carries over (read before unloading)
                carried = held.slot.positions.carried() if held.slot is not None else None
                self._unload(assignment.row_id)
                held = None
            if held is None:
                held = self._load(assignment, carried)
            if held.generation == assignment.generation:
                continue
            held.generation = assignment.generation
            slot = held.slot
            if slot is None:
                continue
            if assignment.desired_state == "running":
                slot.start(now_ns)
                held.started_at = datetime.now(UTC) if slot.state is SlotState.RUNNING else None
                if self.router is not None and slot.state is SlotState.RUNNING:
                    # A live market can be quiet for a while: a started live algo sees the
                    # current book at once rather than at its next change.
                    snap = self.adapter.book(slot.symbol)
                    if snap is not None:
                        slot.on_book(snap)
            else:
                slot.stop()
                held.started_at = None
        self._index()

    # -- execution graphs' orders (trading app): desired state in, fills and states out ----------
    def reconcile_orders(self) -> None:
        if self.is_sandbox:
            from trading.selectors import edge_open_orders

            self.graph_orders.apply(edge_open_orders(venue=self.venue, paper=True))
        else:
            from trading.selectors import live_open_orders

            self.graph_orders.apply(live_open_orders(venue=self.venue))
            self.router.retry_failed()

    def flush_orders(self) -> None:
        from trading.services import orders_report

        updates: list[Any] = []

        def report(**batch: Any) -> Any:
            updates.extend(batch.get("updates", ()))
            return orders_report(venue=self.venue, paper=self.is_sandbox, **batch)

        result = self.graph_orders.flush(report)
        if self.router is not None:
            self.router.deliver(updates, result)  # live algos: new fills and ended orders

    def route_orders(self) -> None:
        """Live algos: persist and send the orders they placed, the cancels, then report."""
        self.router.work()
        if self.graph_orders.pending:
            self.flush_orders()

    def _load(self, assignment: Assignment, carried: CarriedPosition | None = None) -> _Held:
        """Load an algo. Its position and PnL continue from `carried` (the version it replaces in
        this process) or else from the last report (a restarted process): paper positions live in
        the edge, and a restart must not make an algo that holds 4 BTC believe it is flat."""
        held = _Held(assignment)
        self.held[assignment.row_id] = held
        try:
            compiled = self._compiled.get(assignment.artifact_id)
            if compiled is None:
                compiled = load_module(artifact_bytes(artifact_id=assignment.artifact_id))
                self._compiled[assignment.artifact_id] = compiled
        except AlgoLoadError as exc:
            held.rejected_reason = str(exc)
            return held
        account = f"row-{assignment.row_id}"
        # Not a new version taking over in this process, but this process following another one (a
        # restart, a crash): it continues the reported counters and numbers orders above anything
        # the earlier processes could have issued, even in their unreported last second.
        follows_a_process = carried is None and assignment.reported
        # A live algo's ids are never reused by a later instance (a new version, a restart): a late
        # venue fill of an earlier instance's order must not look like one of the new instance's.
        fresh_ids = follows_a_process or self.router is not None
        next_order_id = restart_order_id_base() if fresh_ids else 1
        slot = AlgoSlot(
            key=assignment.deployment_id,
            symbol=assignment.symbol,
            venue=self.adapter,
            account=account,
            compiled=compiled,
            sink=self.buffer,
            next_order_id=next_order_id,
            router=self.router,
        )
        if slot.state is SlotState.REJECTED:
            held.rejected_reason = slot.pause_reason
            return held
        if self.router is not None:
            # Live: the position is the algo's venue fills' (in the database), whatever was reported.
            self.router.attach(slot, client_id=assignment.client_id)
            if follows_a_process:
                slot.restore_counters(
                    updates=assignment.update_count,
                    orders=assignment.order_count,
                    fills=assignment.fill_count,
                    rejects=assignment.reject_count,
                    trades=assignment.trade_count,
                )
            held.slot = slot
            return held
        if carried is None and (assignment.position_1e8 or assignment.realized_pnl_1e9):
            carried = CarriedPosition(
                position_1e8=assignment.position_1e8,
                avg_entry_price_1e9=assignment.avg_entry_price_1e9,
                realized_pnl_1e9=assignment.realized_pnl_1e9,
                session_realized_pnl_1e9=assignment.session_realized_pnl_1e9,
            )
        if carried is not None:
            slot.restore_position(carried)
        if follows_a_process:
            slot.restore_counters(
                updates=assignment.update_count,
                orders=assignment.order_count,
                fills=assignment.fill_count,
                rejects=assignment.reject_count,
                trades=assignment.trade_count,
            )
        held.slot = slot
        return held

    def _unload(self, row_id: int) -> None:
        held = self.held.pop(row_id)
        if held.slot is not None:
            held.slot.close()
            if self.router is not None:
                self.router.detach(held.slot)

    def reports(self) -> list[AlgoReport]:
        out = []
        for held in self.held.values():
            slot = held.slot
            if slot is None:
                out.append(
                    AlgoReport(
                        row_id=held.row_id,
                        applied_generation=held.generation,
                        status="rejected",
                        pause_reason=held.rejected_reason,
                        started_at=None,
                        position_1e8=0,
                        realized_pnl_1e9=0,
                        session_realized_pnl_1e9=0,
                        unrealized_pnl_1e9=0,
                        callback_latency_ns=0,
                        update_count=0,
                        order_count=0,
                        fill_count=0,
                        reject_count=0,
                        trade_count=0,
                    )
                )
                continue
            book = slot.positions
            out.append(
                AlgoReport(
                    row_id=held.row_id,
                    applied_generation=held.generation,
                    status=slot.state.value,
                    pause_reason=slot.pause_reason,
                    started_at=held.started_at if slot.state is SlotState.RUNNING else None,
                    position_1e8=book.position_1e8,
                    avg_entry_price_1e9=book.avg_entry_price_1e9,
                    realized_pnl_1e9=book.realized_pnl_1e9,
                    session_realized_pnl_1e9=book.session_realized_pnl_1e9,
                    unrealized_pnl_1e9=book.unrealized_pnl_1e9,
                    callback_latency_ns=slot.take_latency_p50(),
                    update_count=slot.update_count,
                    order_count=book.order_count,
                    fill_count=book.fill_count,
                    reject_count=book.reject_count,
                    trade_count=book.trade_count,
                )
            )
        return out

    def report(self, *, metrics: bool) -> None:
        assert self.edge is not None
        services.edge_report(
            edge=self.edge, reports=self.reports(), metrics=metrics, feed_status=self.feed_status()
        )

    def flush_logs(self) -> None:
        assert self.edge is not None
        logs, traces = self.buffer.take()
        if logs or traces:
            services.edge_logs_flush(edge=self.edge, logs=logs, traces=traces)

    def quotes(self) -> dict[str, dict[str, Any]]:
        """Current books (`quote_payload`) of the symbols that changed since the last call, keyed
        ``<venue>:<symbol>``."""
        out = {}
        for symbol in self._dirty_quotes:
            if symbol in self._unfollowed:
                continue  # dropped by refresh_feed_symbols: its last book must not come back
            snap = self.adapter.book(symbol)
            if snap is not None:
                out[f"{self.venue}:{symbol}"] = quote_payload(self.venue, symbol, snap)
        self._dirty_quotes.clear()
        return out

    def flush_recording(self) -> None:
        """Write what was recorded since the last flush as Parquet segments (backtests read them)."""
        if self.recorder is not None:
            self.recorder.flush()

    def shutdown(self) -> None:
        self.flush_recording()
        for row_id in list(self.held):
            self._unload(row_id)
        if self.router is not None:
            # the cancels of the live algos' open orders: a stopped edge's algo must not be filled
            self.route_orders()
        if not self.is_sandbox:
            self.graph_orders.close()
        self.adapter.close()
        if self.edge is not None:
            services.edge_disconnect(edge=self.edge)


class EdgeRunner:
    """Runs one or more edges in one process until SIGTERM/SIGINT."""

    def __init__(self, workers: Sequence[EdgeWorker]) -> None:
        self.workers = list(workers)
        self.stopping = threading.Event()
        self.nudged = threading.Event()
        self.listening = threading.Event()  # the nudge listener is subscribed
        # A nudge makes a reconcile immediate; this pass bounds a lost nudge (EDGE_RECONCILE_SECONDS).
        self.reconcile_every_ns = int(settings.EDGE_RECONCILE_SECONDS * 1_000_000_000)
        # set by a nudge and by every book a live feed publishes: the loop's sleep ends at once
        self.wake = threading.Event()
        # The workers' state (slots, books, orders, buffers): the loop's passes hold it; a live feed's
        # thread steps its worker under it when it is free (_feed_step).
        self.lock = threading.Lock()
        for worker in self.workers:
            if hasattr(worker.adapter, "wakeup"):
                worker.adapter.wakeup = self.wake
            if hasattr(worker.adapter, "set_consumer"):
                worker.adapter.set_consumer(lambda w=worker: self._feed_step(w))
            if hasattr(worker.graph_orders, "wakeup"):  # a live edge's private streams
                worker.graph_orders.wakeup = self.wake
        self._redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
        self._fanout: PriceFanout | None = None

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())

    def _listen_for_nudges(self) -> None:
        channels = {edge_nudge_channel(venue=w.venue, is_sandbox=w.is_sandbox) for w in self.workers}
        while not self.stopping.is_set():
            try:
                pubsub = self._redis.pubsub()
                pubsub.subscribe(*channels)
                confirmed = 0
                while not self.stopping.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        # Redis confirmed a channel: from here on no nudge to it is missed.
                        confirmed += 1
                        if confirmed >= len(channels):
                            self.listening.set()
                    elif message["type"] == "message":
                        self.nudged.set()
                        self.wake.set()
            except redis.RedisError:
                logger.warning("nudge listener lost Redis; retrying (reconcile passes continue)")
                self.stopping.wait(1.0)

    def _feed_step(self, worker: EdgeWorker) -> bool:
        """In a live feed's thread, after a read that changed books: deliver them to the algos now.
        False (the books stay pending, the loop is woken) while the loop holds the workers."""
        if not self.lock.acquire(blocking=False):
            return False
        try:
            worker.step(time.time_ns())
            if worker.router is not None and worker.router.pending:
                self.wake.set()  # live algos placed or cancelled: the loop sends them
        finally:
            self.lock.release()
        return True

    def _guarded(self, what: str, fn: Any) -> None:
        """Database trouble must not stop the market-data loop: log, drop stale connections, go on."""
        try:
            fn()
        except Exception:
            logger.exception("edge %s failed; retrying on the next pass", what)
            close_old_connections()

    def run(self) -> None:
        # Subscribe to nudges before registering: a change made as soon as the edge shows up in the
        # registry is then applied by the nudge, not left to the next reconcile pass. Without Redis
        # the edge still starts (after 10 s) and reconcile passes carry the changes.
        threading.Thread(target=self._listen_for_nudges, name="edge-nudges", daemon=True).start()
        self.listening.wait(10)
        with self.lock:
            for worker in self.workers:
                worker.register()
                worker.reconcile()
                self._guarded("order reconcile", worker.reconcile_orders)
        self._fanout = PriceFanout()
        now = time.time_ns()
        next_reconcile = now + self.reconcile_every_ns
        next_report = now
        next_metrics = now + METRICS_EVERY_NS
        next_logs = now
        next_quotes = now
        next_recording = now + RECORDING_FLUSH_EVERY_NS
        next_feed_check = now
        live = [w for w in self.workers if not w.is_sandbox]
        live_poll_every_ns = int(settings.LIVE_ORDER_POLL_SECONDS * 1_000_000_000)
        next_live_poll = now + live_poll_every_ns
        logger.info(
            "edges up: %s",
            ", ".join(f"{w.edge_id} ({'sandbox' if w.is_sandbox else 'live'})" for w in self.workers),
        )
        if any(hasattr(w.adapter, "set_consumer") for w in self.workers):
            if not native_book_calls():
                logger.warning(
                    "live books reach the algos through the Python path: edges.core._fastbook was not "
                    "built (no C compiler at install?) or SEQUENCE_NATIVE_BOOK=0; several µs slower a book"
                )
            if not native_books():
                logger.warning(
                    "live feeds keep their books in Python: venues.live._l2book was not built (no C "
                    "compiler at install?) or SEQUENCE_NATIVE_FEED=0; a µs or two slower a frame"
                )
        lock = self.lock
        held = False  # whether this thread holds the lock (a feed thread may hold it for a moment)
        try:
            while not self.stopping.is_set():
                lock.acquire()
                held = True
                now = time.time_ns()
                for worker in self.workers:
                    worker.step(now)
                for worker in live:
                    if worker.router.pending:  # live algos placed or cancelled: send now
                        self._guarded("live algo orders", worker.route_orders)
                if self.nudged.is_set() or now >= next_reconcile:
                    self.nudged.clear()
                    for worker in self.workers:
                        self._guarded("reconcile", worker.reconcile)
                        self._guarded("order reconcile", worker.reconcile_orders)
                        self._guarded("feed symbols", worker.refresh_feed_symbols)
                    next_reconcile = now + self.reconcile_every_ns
                    next_live_poll = now + live_poll_every_ns
                    next_report = now  # report the new state at once
                elif live and now >= next_live_poll:
                    # live edges: the venue's fills and open orders, between reconciles
                    for worker in live:
                        self._guarded("order reconcile", worker.reconcile_orders)
                    next_live_poll = now + live_poll_every_ns
                elif live:
                    # at once for a venue whose private stream heard a fill or an order change
                    for worker in live:
                        if worker.graph_orders.poked():
                            self._guarded("order reconcile", worker.reconcile_orders)
                if now >= next_logs:
                    for worker in self.workers:
                        self._guarded("log flush", worker.flush_logs)
                        if worker.graph_orders.pending:
                            self._guarded("order report", worker.flush_orders)
                    next_logs = now + LOG_FLUSH_EVERY_NS
                if now >= next_report:
                    metrics = now >= next_metrics
                    for worker in self.workers:
                        self._guarded("report", lambda w=worker, m=metrics: w.report(metrics=m))
                    next_report = now + REPORT_EVERY_NS
                    if metrics:
                        next_metrics = now + METRICS_EVERY_NS
                if now >= next_quotes:
                    self._guarded("quotes", self._publish_quotes)
                    next_quotes = now + QUOTES_EVERY_NS
                if now >= next_feed_check:
                    for worker in self.workers:
                        worker.check_feed()
                    next_feed_check = now + FEED_CHECK_EVERY_NS
                if now >= next_recording:
                    for worker in self.workers:
                        self._guarded("recording", worker.flush_recording)
                    next_recording = now + RECORDING_FLUSH_EVERY_NS
                held = False
                lock.release()
                self._sleep(now, min(next_logs, next_report, next_quotes, next_reconcile))
        finally:
            if not held:
                lock.acquire()
            if self._fanout is not None:
                self._fanout.close()
            for worker in self.workers:
                self._guarded("shutdown", worker.flush_logs)
                self._guarded("shutdown", worker.flush_orders)
                self._guarded("shutdown", worker.shutdown)
            lock.release()

    def _sleep(self, now: int, next_timer: int) -> None:
        due = [t for w in self.workers if (t := w.adapter.next_ts()) is not None]
        wake = min([next_timer, *due])
        delay = max(0.0005, min(0.05, (wake - time.time_ns()) / 1e9))
        self.wake.wait(delay)
        self.wake.clear()  # before the next step: a book published after this is drained by it

    def _publish_quotes(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for worker in self.workers:
            quotes = worker.quotes()
            if quotes:
                write_quotes(pipe, is_sandbox=worker.is_sandbox, quotes=quotes)
                if self._fanout is not None:
                    self._fanout.publish(is_sandbox=worker.is_sandbox, quotes=quotes)
        pipe.execute()
