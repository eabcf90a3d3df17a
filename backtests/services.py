"""Every write about backtests: submit, cancel, and the run itself (called by the Celery task).

The REST API, the dashboard form and the CLI (through the API) submit and cancel through these
functions; the worker runs ``backtest_run``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from algo_studio.selectors import deployment_get, deployment_symbols
from backtests.lifecycle import JobStatus, transition
from backtests.models import BacktestJob
from backtests.selectors import backtest_status
from edges.replay import Replay, ReplayCancelled, ReplayFailed, ReplaySpec, results_json
from edges.runtime import AlgoLoadError
from sequence_site.celery import app as celery_app
from sequence_site.errors import InvalidInput, InvalidTransition
from sequence_site.realtime import group_send, publish_on_commit
from sequence_site.scope import Scope
from sequence_site.symbols import parse_symbol
from venues.instruments import SPOT_VENUES, Instrument, get_instrument
from venues.marketdata.store import MarketDataStore
from venues.paper import DEFAULT_PAPER_SEED
from venues.symbols import hyphen_symbol

logger = logging.getLogger(__name__)

DEFAULT_CAPITAL_USD = Decimal(100_000)
DEFAULT_SEED = DEFAULT_PAPER_SEED  # a live-fed sandbox edge's too: its recordings replay alike
DEFAULT_DAYS = 7  # a range with one end omitted spans a week
MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)
MAX_CAPITAL_USD = Decimal(10) ** 12
MAX_SEED = 2**63 - 1
# A deployment without a venue runs on every algo-capable edge; its backtest needs one book, so
# it replays the first spot venue's (documented in docs/backtests.md).
DEFAULT_VENUE = "coinbase"


def progress_group(job_id: str) -> str:
    """The channel-layer group a job's progress is pushed to."""
    return f"backtest.{job_id}"


@dataclass(frozen=True, slots=True)
class _Range:
    start: date
    end: date


def _date_range(start: date | None, end: date | None, *, today: date) -> _Range:
    if start is None and end is None:
        end = today - timedelta(days=1)
    if start is None:
        assert end is not None
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if end is None:
        end = min(start + timedelta(days=DEFAULT_DAYS - 1), today)
    if end < start:
        raise InvalidInput(f"end_date {end} is before start_date {start}.")
    if start < EARLIEST:
        raise InvalidInput(f"start_date {start} is before {EARLIEST}: there is no market data that old.")
    if end > today:
        raise InvalidInput(
            f"end_date {end} is in the future (today is {today} UTC): a backtest replays history."
        )
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise InvalidInput(f"The range is {days} days; at most {MAX_DAYS} days per backtest.")
    return _Range(start, end)


def _capital(value: Any) -> Decimal:
    try:
        capital = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidInput("capital_usd must be a number.") from None
    if not capital.is_finite() or capital <= 0:
        raise InvalidInput("capital_usd must be above 0.")
    if capital > MAX_CAPITAL_USD:
        raise InvalidInput(f"capital_usd must be at most {MAX_CAPITAL_USD:,}.")
    return capital.quantize(Decimal("0.000001"))


def backtest_create(
    *,
    scope: Scope,
    deployment_id: str,
    symbols: list[str] | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    capital_usd: Any = DEFAULT_CAPITAL_USD,
    seed: int = DEFAULT_SEED,
    today: date | None = None,
) -> BacktestJob:
    """Validate and queue a backtest of one of the scope's deployments.

    404 for a deployment that is unknown, deleted, another client's or another mode's; 400 for a
    symbol the deployment does not trade, a bad or absurd date range, capital <= 0, a bad seed.
    """
    deployment = deployment_get(scope=scope, deployment_id=deployment_id)
    traded = deployment_symbols(deployment)
    if symbols:
        chosen = []
        for text in symbols:
            symbol = parse_symbol(text).slash
            if symbol not in traded:
                trades = ", ".join(hyphen_symbol(s) for s in traded)
                raise InvalidInput(
                    f"{hyphen_symbol(symbol)} is not a symbol of {deployment.deployment_id} "
                    f"(it trades {trades})."
                )
            if symbol not in chosen:
                chosen.append(symbol)
    else:
        chosen = traded
    if not chosen:
        raise InvalidInput(f"{deployment.deployment_id} has no symbols to backtest.")
    venue = deployment.venue or DEFAULT_VENUE
    if venue not in SPOT_VENUES:
        raise InvalidInput(f"Backtests replay spot venues ({', '.join(SPOT_VENUES)}), not {venue}.")
    for symbol in chosen:
        try:
            _instrument(venue, symbol)
        except KeyError:
            raise InvalidInput(
                f"{venue} does not list {symbol}: there is no market data to replay."
            ) from None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidInput(f"seed must be an integer from 0 to {MAX_SEED}.")
    span = _date_range(start_date, end_date, today=today or datetime.now(UTC).date())
    capital = _capital(capital_usd)

    for _attempt in range(5):  # bt_<8 hex>: a collision is rare, and retried
        try:
            with transaction.atomic():
                job = BacktestJob.objects.create(
                    client=scope.client,
                    is_sandbox=scope.is_sandbox,
                    deployment=deployment,
                    artifact=deployment.artifact,
                    venue=venue,
                    symbols=chosen,
                    start_date=span.start,
                    end_date=span.end,
                    capital_usd=capital,
                    seed=seed,
                )
                _enqueue_on_commit(job.id)
            return job
        except IntegrityError:
            continue
    raise InvalidInput("Could not allocate a job id; try again.")


RUN_BACKTEST_TASK = "backtests.run_backtest"  # backtests/tasks.py registers it under this name


def _enqueue_on_commit(job_id: str) -> None:
    # By the task's name (settings.CELERY_TASK_ROUTES puts it on the `backtests` queue): the tasks
    # module calls these services, so the services do not import it back.
    transaction.on_commit(lambda: celery_app.send_task(RUN_BACKTEST_TASK, args=[job_id]))


def backtest_cancel(*, job: BacktestJob) -> BacktestJob:
    """Cancel a queued or running job (409 once it finished). A running worker notices at its next
    progress write (every ``BACKTEST_PROGRESS_SECONDS``, also while it prepares the data) and stops."""
    transition(job, JobStatus.CANCELLED, note="cancelled by the user")
    publish_on_commit(progress_group(job.id), {"type": "backtest.progress", **backtest_status(job)})
    return job


def _publish(job: BacktestJob) -> None:
    group_send(progress_group(job.id), {"type": "backtest.progress", **backtest_status(job)})


def _instrument(venue: str, symbol: str) -> Instrument:
    """`symbol`'s rules on `venue` (KeyError when unlisted). Where the venue's feed is live, its
    sandbox edge paper-trades, and records, under the venue's real catalogue (tick, lot, minimums,
    fees): a backtest of those recordings uses the same rules, as synced into the database
    (edges/catalogue.py); the simulated catalogue's otherwise, or before the first sync."""
    from edges.catalogue import stored_instrument
    from edges.feeds import venue_feed_mode

    if venue_feed_mode(venue) == "live":
        inst = stored_instrument(venue, symbol)
        if inst is not None:
            return inst
    return get_instrument(venue, symbol)


def _spec(job: BacktestJob) -> ReplaySpec:
    return ReplaySpec(
        instruments=tuple(_instrument(job.venue, s) for s in job.symbols),
        first_day=job.start_date,
        last_day=job.end_date,
        seed=int(job.seed),
        capital_1e9=int(Decimal(job.capital_usd) * 1_000_000_000),
    )


def backtest_run(*, job_id: str, worker: str = "") -> None:
    """Run a queued job to the end (the Celery task's body). Claims it with a conditional update,
    so a duplicate delivery or a job cancelled while queued does nothing."""
    job = BacktestJob.objects.select_related("artifact").filter(pk=job_id).first()
    if job is None or job.status != JobStatus.QUEUED:
        return
    try:
        days = ((job.end_date - job.start_date).days + 1) * len(job.symbols)
        transition(
            job, JobStatus.RUNNING, worker=worker[:200], heartbeat_at=timezone.now(), phase="preparing",
            days_total=days,
        )  # fmt: skip
    except InvalidTransition:
        return
    _publish(job)
    started = time.monotonic()
    interval = float(settings.BACKTEST_PROGRESS_SECONDS)
    last_write = started

    def progress(processed: int) -> bool:
        nonlocal last_write
        now = time.monotonic()
        if now - last_write < interval:
            return True
        last_write = now
        # The write is the heartbeat too (the janitor fails running jobs whose heartbeat is stale).
        changed = BacktestJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            events_processed=processed, heartbeat_at=timezone.now()
        )
        job.events_processed = processed
        _publish(job)
        return bool(changed)  # 0 rows: the job was cancelled (or failed by the janitor) under us

    prepared = [0, job.days_total]

    def on_day(done: int, total: int) -> None:
        prepared[:] = [done, total]

    def preparing() -> bool:
        # Generating a long range of simulated days takes a while: heartbeat and see a cancel
        # between days too, not only once the replay has started; say which day it is on.
        nonlocal last_write
        now = time.monotonic()
        if now - last_write < interval:
            return True
        last_write = now
        changed = BacktestJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            days_prepared=prepared[0], days_total=prepared[1], heartbeat_at=timezone.now()
        )
        job.days_prepared, job.days_total = prepared
        _publish(job)
        return bool(changed)

    store = MarketDataStore(settings.MARKET_DATA_DIR)
    try:
        _replay(job, store, started, progress, preparing, on_day, prepared)
    finally:
        if store.blocks_written:  # bound the replay blocks (a cache: LRU beyond the budget)
            try:
                store.trim_blocks(int(settings.MARKET_DATA_BLOCK_CACHE_MB) * 2**20)
            except OSError:
                logger.exception("backtest %s: trimming the replay blocks failed", job.pk)


def _replay(
    job: BacktestJob,
    store: MarketDataStore,
    started: float,
    progress: Callable[[int], bool],
    preparing: Callable[[], bool],
    on_day: Callable[[int, int], None],
    prepared: list[int],
) -> None:
    try:
        replay = Replay(wasm=bytes(job.artifact.wasm), spec=_spec(job), store=store, progress=progress)
        job.total_events = replay.prepare(should_continue=preparing, on_day=on_day)
        job.days_prepared, job.days_total = prepared
        job.sources, job.phase, job.replay_started_at = replay.sources(), "replaying", timezone.now()
        BacktestJob.objects.filter(pk=job.pk).update(
            total_events=job.total_events,
            days_prepared=job.days_prepared,
            days_total=job.days_total,
            sources=job.sources,
            phase=job.phase,
            replay_started_at=job.replay_started_at,
        )
        _publish(job)
        results = replay.run()
    except AlgoLoadError as exc:
        _fail(job, f"algo could not be loaded: {exc}", 0)
    except ReplayFailed as exc:
        _fail(job, exc.message, exc.events_processed)
    except ReplayCancelled as exc:
        BacktestJob.objects.filter(pk=job.pk).update(events_processed=exc.events_processed)
    except Exception:
        logger.exception("backtest %s crashed", job.pk)
        _fail(job, "internal error while running the backtest (see the worker's log)", job.events_processed)
    else:
        try:
            transition(
                job,
                JobStatus.COMPLETED,
                events_processed=replay.processed,
                results_json=results_json(results),
                metrics=results["metrics"],
                run_seconds=round(time.monotonic() - started, 3),
            )
        except InvalidTransition:
            return  # cancelled in the last moments: the user's word wins
        _publish(job)


def _fail(job: BacktestJob, message: str, processed: int) -> None:
    try:
        transition(job, JobStatus.FAILED, error=message, events_processed=processed, note=message)
    except InvalidTransition:
        return
    _publish(job)


def backtest_job_lost(*, job_id: str, now: datetime | None = None) -> bool:
    """Fail a running job whose worker stopped heartbeating (killed, host lost): without this it
    would stay ``running`` forever. The staleness is re-checked under a row lock, so a worker that
    heartbeats meanwhile keeps its job; one that comes back later finds the job failed and stops.
    True when the job was failed."""
    now = now or timezone.now()
    timeout = float(settings.BACKTEST_HEARTBEAT_TIMEOUT_SECONDS)
    cutoff = now - timedelta(seconds=timeout)
    with transaction.atomic():
        job = (
            BacktestJob.objects.select_for_update()
            .defer("results_json")
            .filter(pk=job_id, status=JobStatus.RUNNING)
            .first()
        )
        if job is None:
            return False
        # Jobs started before heartbeats existed have none: their start is the last sign of life.
        last_seen = job.heartbeat_at or job.started_at
        if last_seen is not None and last_seen >= cutoff:
            return False
        silent = int((now - last_seen).total_seconds()) if last_seen is not None else int(timeout)
        message = f"the backtest worker stopped responding (no progress for {silent} s); run it again"
        transition(job, JobStatus.FAILED, error=message, note=message)
        publish_on_commit(progress_group(job.id), {"type": "backtest.progress", **backtest_status(job)})
    logger.warning("backtest %s failed by the janitor: %s (worker %s)", job.id, message, job.worker or "?")
    return True


def backtest_janitor(*, now: datetime | None = None) -> int:
    """One pass of beat's ``backtests.janitor``: fail the running jobs with a stale heartbeat
    (older than ``BACKTEST_HEARTBEAT_TIMEOUT_SECONDS``). Returns how many were failed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=float(settings.BACKTEST_HEARTBEAT_TIMEOUT_SECONDS))
    stale = BacktestJob.objects.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff),
        status=JobStatus.RUNNING,
    ).values_list("pk", flat=True)
    # Bounded per pass so one janitor run never holds a long lock; the next pass continues.
    return sum(1 for job_id in list(stale[:500]) if backtest_job_lost(job_id=job_id, now=now))
