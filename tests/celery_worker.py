"""One way to run a real Celery worker inside the test process: `running_worker(...)`.

Every fixture that needs an in-process worker uses it (instead of
`celery.contrib.testing.worker.start_worker` directly) because Celery keeps the "stop now" request
in process-global flags (`celery.worker.state.should_terminate` / `should_stop`), which is what
`start_worker` sets to stop its worker. When that worker was slow to stop on a loaded machine,
`start_worker` raised before clearing the flag, and every later worker of the session either
exited at once or never became ready (and `ensure_started()` waits forever): the historic flaky
fixtures in tests/strategies and tests/sequence_markets. Here:

- the flags (and the request bookkeeping) are cleared before a worker starts;
- becoming ready and stopping both have generous ceilings, and a worker that outlives its
  ceiling is waited for again before the next one starts, never silently left consuming;
- only one in-process worker runs at a time: the flags would stop them all at once anyway.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import traceback
from collections.abc import Iterator

from celery.contrib.testing.worker import TestWorkController, setup_app_for_worker
from celery.result import _set_task_join_will_block
from celery.utils.nodenames import anon_nodename
from celery.worker import state

from sequence_site.celery import app as celery_app

READY_CEILING_SECONDS = 60.0
STOP_CEILING_SECONDS = 120.0

_running: list[threading.Thread] = []  # the worker thread of this process, if any
_stopping: list[threading.Thread] = []  # worker threads told to stop that outlived their ceiling


def purge(queues: list[str]) -> None:
    """Drop what earlier tests left in these queues (their rows are gone)."""
    with celery_app.connection_for_write() as conn:
        for queue in queues:
            with contextlib.suppress(Exception):  # the queue may not be declared yet
                conn.default_channel.queue_purge(queue)


def _thread_stack(thread: threading.Thread) -> str:
    frame = sys._current_frames().get(thread.ident or -1)
    return "".join(traceback.format_stack(frame)) if frame is not None else "<no frame>"


def _reap_previous() -> None:
    """Wait for an earlier worker thread to end (its stop flag still set), then clear the flags."""
    if _running:
        raise RuntimeError(
            "another in-process Celery worker is running: Celery's stop flag is process-global, so "
            "stopping one would stop both; run one at a time"
        )
    for thread in list(_stopping):
        if thread.is_alive():
            state.should_terminate = 0
            thread.join(STOP_CEILING_SECONDS)
        if thread.is_alive():
            raise RuntimeError(
                f"an earlier in-process Celery worker is still running after {STOP_CEILING_SECONDS:g} s "
                f"more; its stack:\n{_thread_stack(thread)}"
            )
        _stopping.remove(thread)
    state.should_terminate = None
    state.should_stop = None
    for requests in (state.active_requests, state.reserved_requests, state.scheduled_requests):
        requests.clear()
    state.requests.clear()


@contextlib.contextmanager
def running_worker(
    *,
    queues: list[str],
    pool: str = "threads",
    concurrency: int = 1,
    loglevel: str = "WARNING",
    purge_queues: bool = True,  # before it starts and after it stops
) -> Iterator[TestWorkController]:
    """A real worker consuming `queues` from the real broker, in a thread of this process (so its
    tasks use the test database). Yields once the consumer is ready; stops it on exit."""
    _reap_previous()
    if purge_queues:
        purge(queues)
    setup_app_for_worker(celery_app, loglevel, None)
    worker = TestWorkController(
        app=celery_app,
        concurrency=concurrency,
        hostname=anon_nodename(),
        pool=pool,
        loglevel=loglevel,
        logfile=None,
        ready_callback=None,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        queues=queues,
    )
    thread = threading.Thread(target=worker.start, daemon=True, name=f"celery-test-worker-{'-'.join(queues)}")
    _running.append(thread)
    thread.start()
    try:
        if not worker._on_started.wait(READY_CEILING_SECONDS):
            alive = "running" if thread.is_alive() else "exited"
            raise RuntimeError(
                f"the Celery test worker on {queues} was not ready after {READY_CEILING_SECONDS:g} s "
                f"(thread {alive}); its stack:\n{_thread_stack(thread)}"
            )
        _set_task_join_will_block(False)
        yield worker
    finally:
        state.should_terminate = 0  # what start_worker does: a cold shutdown of this worker
        thread.join(STOP_CEILING_SECONDS)
        _running.remove(thread)
        if thread.is_alive():
            # Leave the flag set so it still stops; the next running_worker() waits for it.
            _stopping.append(thread)
            raise RuntimeError(
                f"the Celery test worker on {queues} did not stop within {STOP_CEILING_SECONDS:g} s; "
                f"its stack:\n{_thread_stack(thread)}"
            )
        state.should_terminate = None
        state.should_stop = None
        if purge_queues:
            purge(queues)


def idle() -> bool:
    """True when the in-process worker holds no task (running or prefetched)."""
    return not state.active_requests and not state.reserved_requests
