"""Fixtures for edge tests: algos built from source, and real `run_edge` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import wasmtime
from django.conf import settings

from sequence_markets.algo_build import build_c
from tests.waiting import unwatch_log, wait_until, watch_log

REPO = Path(__file__).resolve().parents[2]
# The example market maker quoting 0.5 ETH on a 0.01 grid: Coinbase ETH/USD's tick and a legal size.
MM_ETH_ARGS = ["-DMM_TICK_1E9=10000000", "-DMM_ORDER_QTY_1E8=50000000", "-DMM_LOG_EVERY=50"]


@pytest.fixture(scope="session")
def market_maker_wasm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("mm") / "mm.wasm"
    build_c(
        REPO / "examples/algos/market_maker/market_maker.c",
        out,
        include_dirs=[REPO / "examples/algos/include"],
        extra_args=MM_ETH_ARGS,
    )
    return out.read_bytes()


def wat(source: str) -> bytes:
    return wasmtime.wat2wasm(source)


# An algo that buys one lot far above the ask on its first update (so it fills at once as a taker),
# logs every update, and traps (unreachable) once it has seen `trap_after` updates (0: never).
def scripted_algo(*, trap_after: int = 0, qty_1e8: int = 1_000_000, log: bool = True) -> bytes:
    trap = (
        f"(if (i64.ge_s (global.get $n) (i64.const {trap_after})) (then unreachable))" if trap_after else ""
    )
    log_call = "(call $log (i32.const 1) (i32.const 0) (i32.const 6))" if log else ""
    return wat(f"""
    (module
      (import "seq" "place_order" (func $place (param i32 i64 i64) (result i64)))
      (import "seq" "log" (func $log (param i32 i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "update")
      (global $n (mut i64) (i64.const 0))
      (func (export "on_book") (param $bp i64) (param $bq i64) (param $ap i64) (param $aq i64) (param $ts i64)
        (global.set $n (i64.add (global.get $n) (i64.const 1)))
        {log_call}
        (if (i64.eq (global.get $n) (i64.const 1))
          (then (drop (call $place (i32.const 0) (i64.mul (local.get $ap) (i64.const 2)) (i64.const {qty_1e8})))))
        {trap}))
    """)


class EdgeProcess:
    """A real `manage.py run_edge` process against the test database and Redis."""

    feed: str | None = None  # `--feed live|sim` (None: each venue's VENUE_FEED_<VENUE> setting)

    def __init__(
        self,
        venues: list[str],
        *,
        mean_interval_ms: float = 20.0,
        env: dict[str, str] | None = None,
        live: bool = False,
    ) -> None:
        self.venues = venues
        self.live = live  # `run_edge --live` (the venues' live feeds and order halves) or --sandbox
        self.mean_interval_ms = mean_interval_ms
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"edge-{os.getpid()}-{'-'.join(venues)}.log"
        self.market_data_dir = Path(tempfile.mkdtemp(prefix="edge-market-data-"))

    def env(self) -> dict[str, str]:
        db = settings.DATABASES["default"]
        env = dict(os.environ)
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        )
        env["REDIS_URL"] = settings.REDIS_URL
        env["CHANNEL_LAYER_PREFIX"] = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        # Each edge records into its own folder: tests never write into the repository's var/.
        env["MARKET_DATA_DIR"] = str(self.market_data_dir)
        env.update(self.extra_env)
        return env

    def start(self) -> EdgeProcess:
        args = [sys.executable, str(REPO / "manage.py"), "run_edge", "--live" if self.live else "--sandbox"]
        for venue in self.venues:
            args += ["--venue", venue]
        if not self.live:
            args += ["--mean-interval-ms", str(self.mean_interval_ms)]
        if self.feed:
            args += ["--feed", self.feed]
        self.process = subprocess.Popen(
            args, env=self.env(), cwd=REPO, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT
        )
        watch_log(self.name, self.log_path)
        from edges.models import Edge

        def registered() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}: {self.output()}")
            return Edge.objects.filter(
                edge_id__in=[f"venue-edge-{v}" for v in self.venues], is_sandbox=not self.live
            ).connected().filter(pid=self.process.pid).count() == len(self.venues)

        wait_until(registered, timeout=60, what=f"{self.name} to register", logs={self.name: self.log_path})
        return self

    @property
    def name(self) -> str:
        return f"{'live ' if self.live else ''}edge {'+'.join(self.venues)}"

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} ignored signal {sig} for 60 s: {self.output()}") from None
        self.process = None
        unwatch_log(self.name)
        return code

    def output(self) -> str:
        return self.log_path.read_text()[-3000:] if self.log_path.exists() else ""


def wait_for(predicate: Callable[[], object], *, timeout: float = 60.0, what: str = "condition") -> object:
    """Poll `predicate` with a generous ceiling (tests/waiting.py); a timeout shows the process logs."""
    return wait_until(predicate, timeout=timeout, what=what)


@pytest.fixture
def edge_process(transactional_db) -> Iterator[Callable[..., EdgeProcess]]:
    started: list[EdgeProcess] = []

    def start(*venues: str, mean_interval_ms: float = 20.0, env: dict[str, str] | None = None) -> EdgeProcess:
        edge = EdgeProcess(list(venues), mean_interval_ms=mean_interval_ms, env=env).start()
        started.append(edge)
        return edge

    yield start
    for edge in started:
        if edge.process is not None:
            edge.stop(signal.SIGKILL)
        unwatch_log(edge.name)
