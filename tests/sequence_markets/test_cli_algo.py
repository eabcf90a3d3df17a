"""The algo commands of `sequence`, run as real subprocesses against a real daphne on the test database:
build, deploy, lifecycle, list, stats, logs (and --follow over the websocket, across a server restart),
deployments, bundles, --json shapes and the errors."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from algo_studio import services
from algo_studio.models import AlgoLog, Deployment
from edges.models import Edge
from edges.services import LogLine, edge_logs_flush
from sequence_site.scope import Scope
from tests.edges.conftest import REPO, scripted_algo
from tests.sequence_markets.conftest import Daphne

pytestmark = pytest.mark.django_db(transaction=True)

SEQUENCE = str(Path(sys.executable).parent / "sequence")
EXAMPLES = REPO / "examples" / "algos"


def run(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEQUENCE, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def ok(*args: str, env: dict[str, str], cwd: Path | None = None) -> str:
    result = run(*args, env=env, cwd=cwd)
    assert result.returncode == 0, f"sequence {' '.join(args)}: {result.stderr}"
    return result.stdout


def ok_json(*args: str, env: dict[str, str], cwd: Path | None = None) -> dict:
    return json.loads(ok(*args, "--json", env=env, cwd=cwd))


def fails(*args: str, env: dict[str, str], cwd: Path | None = None, code: int = 1) -> str:
    result = run(*args, env=env, cwd=cwd)
    assert result.returncode == code, f"sequence {' '.join(args)} exited {result.returncode}: {result.stderr}"
    return result.stderr


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQUENCE_")}
    env["SEQUENCE_CONFIG_DIR"] = str(tmp_path / "config")
    return env


@pytest.fixture
def env(daphne, cli_env, sandbox_key, sandbox_edges) -> dict[str, str]:
    return {**cli_env, "SEQUENCE_API_URL": daphne.url, "SEQUENCE_API_KEY": sandbox_key.plaintext}


@pytest.fixture
def wasm_file(tmp_path) -> Path:
    path = tmp_path / "algo.wasm"
    path.write_bytes(scripted_algo())
    return path


@pytest.fixture
def c_project(tmp_path) -> Path:
    """A copy of the C example market maker (with the shared include folder next to it)."""
    shutil.copytree(EXAMPLES / "market_maker", tmp_path / "algos" / "market_maker")
    shutil.copytree(EXAMPLES / "include", tmp_path / "algos" / "include")
    return tmp_path / "algos" / "market_maker"


def store(deployment_pk, *messages: str, symbol: str = "XRP/USD", edge_id: str = "venue-edge-kraken") -> None:
    """Log lines stored and fanned out the way an edge does it."""
    edge = Edge.objects.get(edge_id=edge_id, is_sandbox=True)
    now = time.time_ns()
    edge_logs_flush(
        edge=edge, logs=[LogLine(deployment_pk, symbol, now + i, "INFO", m) for i, m in enumerate(messages)]
    )


# -- build, deploy and the lifecycle --------------------------------------------------------------------


def test_build_deploy_start_list_stats_stop_undeploy(env, c_project):
    out = ok("build", env=env, cwd=c_project)
    assert out.startswith("Built build/market_maker.wasm (") and "bytes, c)" in out
    built = c_project / "build" / "market_maker.wasm"
    assert built.read_bytes()[:4] == b"\0asm"

    out = ok("deploy", "BTC-USD", "--start", env=env, cwd=c_project)  # no --wasm: the newest build/*.wasm
    assert out.startswith(f"BTC/USD: build/market_maker.wasm ({built.stat().st_size:,} bytes) deployed")
    assert "pushed to 2/2 capable edges) - running" in out

    out = ok("list", env=env)
    assert out.splitlines()[0].split() == ["SYMBOL", "STATUS", "SIZE", "MODIFIED"]
    assert out.splitlines()[1].startswith("BTC/USD")
    body = ok_json("list", env=env)
    assert set(body) == {"algos"} and body["algos"][0]["symbol"] == "BTC/USD"
    assert set(body["algos"][0]) == {"symbol", "size_bytes", "modified_at", "status"}

    out = ok("list", "--detail", env=env)
    assert "EDGE" in out and "HEARTBEAT" in out and "POSITION" in out and "UPDATES" in out
    assert "venue-edge-kraken" in out and "venue-edge-coinbase" in out
    body = ok_json("list", "--detail", env=env)
    assert {e["edge_id"] for e in body["edges"]} == {"venue-edge-kraken", "venue-edge-coinbase"}

    out = ok("stats", "btc/usd", env=env)
    assert out.startswith("BTC/USD\n") and "position" in out and "pnl" in out and "uptime" in out
    # PnL with its sign (or a plain 0.00), sensible decimals and the quote currency.
    pnl_text = next(line for line in out.splitlines() if line.strip().startswith("pnl")).split(None, 1)[1]
    assert re.fullmatch(r"(0\.00|[+-][\d,]+\.\d{2}|[+-]0\.\d{2,6}) USD", pnl_text), pnl_text
    body = ok_json("stats", "BTC-USD", env=env)
    assert set(body) == {"symbol", "status", "position", "pnl", "trades", "orders", "fills", "rejects",
                         "uptime_secs"}  # fmt: skip

    assert ok("stop", "BTC-USD", env=env).strip() == "BTC/USD: stopped (2 edge(s) notified)."
    body = ok_json("start", "BTC-USD", "--venue", "kraken", env=env)
    assert body == {"symbol": "BTC/USD", "status": "running", "edges_notified": 1, "warnings": []}

    assert ok("undeploy", "BTC-USD", "--yes", env=env).strip() == "BTC/USD: undeployed."
    assert "No algos deployed" in ok("list", env=env)
    assert not Deployment.objects.filter(deleted_at__isnull=True).exists()


def test_wat_build_deploy_with_wasm_and_build_first(env, tmp_path):
    project = tmp_path / "echo"
    project.mkdir()
    shutil.copy(EXAMPLES / "wat" / "minimal.wat", project / "echo.wat")
    body = ok_json("build", str(project), "--out", str(tmp_path / "out" / "echo.wasm"), env=env)
    assert body["language"] == "wat" and body["path"] == str(tmp_path / "out" / "echo.wasm")
    assert body["size_bytes"] == (tmp_path / "out" / "echo.wasm").stat().st_size and len(body["sha256"]) == 64

    body = ok_json("deploy", "ETH-USD", "--wasm", str(tmp_path / "out" / "echo.wasm"), "--venue", "kraken",
                   env=env)  # fmt: skip
    assert body == {
        "symbol": "ETH/USD", "size_bytes": body["size_bytes"], "paused": True, "pushed_to": 1, "capable_edges": 1,
        "status": "deployed (pushed to 1/1 capable edges) - stopped (click Start to begin)", "warnings": [],
    }  # fmt: skip

    # No --wasm and no build/ yet: the folder is built first, then deployed.
    result = run("deploy", "XRP-USD", env=env, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "building echo first" in result.stderr and (project / "build" / "echo.wasm").is_file()
    assert result.stdout.startswith("XRP/USD: build/echo.wasm (")


# -- logs --------------------------------------------------------------------------------------------------


class Follower:
    """`sequence ... --follow` in the background; its stdout and stderr lines arrive on queues."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [SEQUENCE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL,
            # As at a terminal: a shell starting background jobs (CI may) leaves SIGINT ignored, and
            # Python then never turns Ctrl-C into KeyboardInterrupt.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        for stream, q in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, q), daemon=True).start()

    @staticmethod
    def _pump(stream, q) -> None:
        for line in stream:
            q.put(line.rstrip("\n"))

    def expect(self, q: queue.Queue[str], needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"{needle!r} not seen within {timeout}s; got {seen}")

    def line(self, timeout: float = 30.0) -> str:
        return self.out.get(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def xrp(owner, sandbox_edges):
    return services.algo_deploy(
        scope=Scope(client=owner, is_sandbox=True), symbol="XRP/USD", wasm=scripted_algo()
    ).deployment


def test_logs_last_n_and_json(env, xrp):
    store(xrp.pk, "one", "two", "three")
    lines = ok("logs", "XRP-USD", "-n", "2", env=env).splitlines()
    assert [line.split(" INFO  ")[1] for line in lines] == ["two", "three"]
    body = ok_json("logs", "XRP-USD", env=env)
    assert body["symbol"] == "XRP/USD" and [x["message"] for x in body["logs"]] == ["one", "two", "three"]
    assert set(body["logs"][0]) == {"ts_ns", "level", "message"}
    assert ok("logs", "XRP-USD", "--edge", "venue-edge-coinbase", env=env).strip() == "(no log lines yet)"


def test_logs_follow_streams_new_lines_resumes_after_a_restart_and_ends_on_delete(cli_env, sandbox_key, xrp):
    server = Daphne().start()  # its own server: this test restarts it
    env = {**cli_env, "SEQUENCE_API_URL": server.url, "SEQUENCE_API_KEY": sandbox_key.plaintext}
    store(xrp.pk, "old 1", "old 2")
    follower = Follower("logs", "XRP-USD", "--follow", "-n", "1", env=env)
    try:
        follower.expect(follower.err, "following logs of XRP-USD", timeout=60)
        assert follower.line().endswith("old 2")  # -n 1: only the newest of the backlog

        for i in range(3):  # each line is shown while the follower runs (how fast is bench's business)
            store(xrp.pk, f"live {i}")
            assert follower.line().endswith(f"[venue-edge-kraken] live {i}")
        store(xrp.pk, "coinbase says hi", edge_id="venue-edge-coinbase")
        assert follower.line().endswith("[venue-edge-coinbase] coinbase says hi")

        # The server goes away; lines stored meanwhile arrive once it is back (after=<last id>).
        server.stop()
        follower.expect(follower.err, "connection lost", timeout=60)
        store(xrp.pk, "while down 1", "while down 2")
        server.start()
        got = [follower.line(timeout=60), follower.line()]
        assert [g.split("] ")[1] for g in got] == ["while down 1", "while down 2"]
        store(xrp.pk, "after restart")
        assert follower.line().endswith("after restart")
        assert follower.out.empty()

        services.deployment_delete(deployment=xrp)
        follower.expect(follower.err, "was deleted", timeout=60)
        assert follower.process.wait(timeout=30) == 0
    finally:
        follower.stop()
        server.stop()


def test_logs_follow_json_lines_and_edge_filter(env, xrp):
    follower = Follower("logs", "XRP-USD", "--follow", "--json", "-n", "0", "--edge", "venue-edge-coinbase",
                        env=env)  # fmt: skip
    try:
        # --json keeps stderr quiet: wait for the subscription by probing until a line arrives.
        deadline = time.monotonic() + 60
        while True:
            store(xrp.pk, "probe", edge_id="venue-edge-coinbase")
            try:
                first = json.loads(follower.line(timeout=0.5))  # a probe interval, not a ceiling
                break
            except queue.Empty:
                assert time.monotonic() < deadline, "the follower never connected"
        assert first["type"] == "log" and first["edge_id"] == "venue-edge-coinbase"
        assert set(first) == {"type", "id", "ts_ns", "level", "message", "edge_id", "symbol"}
        store(xrp.pk, "kraken line")
        store(xrp.pk, "coinbase line", edge_id="venue-edge-coinbase")
        line = json.loads(follower.line())
        while line["message"] == "probe":
            line = json.loads(follower.line())
        assert line["message"] == "coinbase line" and line["id"] > first["id"]
    finally:
        follower.stop()
    assert follower.process.returncode == 130


def test_logs_follow_of_an_unknown_symbol_says_why(env):
    stderr = fails("logs", "DOGE-USD", "--follow", env=env)
    assert stderr.strip() == "error: No algo deployed on DOGE/USD."


# -- deployments and bundles ---------------------------------------------------------------------------


def test_deployments_create_show_rename_start_stop_logs_delete(env, wasm_file):
    body = ok_json("deployments", "create", "--symbols", "BTC-USD,ETH-USD", "--name", "pair",
                   "--wasm", str(wasm_file), env=env)  # fmt: skip
    dep_id = body["deployment_id"]
    assert body["symbols"] == ["BTC-USD", "ETH-USD"] and body["name"] == "pair"
    assert body["desired_state"] == "stopped" and body["pushed_to"] == 2 and len(body["edges"]) == 4

    out = ok("deployments", "list", env=env)
    assert dep_id in out and "BTC-USD,ETH-USD" in out and "pair" in out
    out = ok("deployments", "show", dep_id, env=env)
    assert out.startswith(dep_id) and "symbols   BTC-USD, ETH-USD" in out and "venue-edge-kraken" in out

    body = ok_json("deployments", "rename", dep_id, "renamed", env=env)
    assert body["name"] == "renamed"
    assert ok("deployments", "start", dep_id, env=env).strip() == f"{dep_id}: running (4 edge(s) notified)."
    body = ok_json("deployments", "stop", dep_id, "--venue", "kraken", env=env)
    assert body == {"deployment_id": dep_id, "desired_state": "stopped", "edges_notified": 2, "warnings": []}

    store(uuid.UUID(dep_id.removeprefix("dep_")), "eth line", symbol="ETH/USD")
    out = ok("deployments", "logs", dep_id, env=env)
    assert out.strip().endswith("[venue-edge-kraken ETH-USD] eth line")
    body = ok_json("deployments", "logs", dep_id, "--symbol", "BTC-USD", env=env)
    assert body == {"deployment_id": dep_id, "logs": []}

    # `undeploy` refuses a symbol of a multi-symbol deployment with the API's reason.
    assert "multi-symbol deployment" in fails("undeploy", "BTC-USD", "--yes", env=env)

    assert ok_json("deployments", "delete", dep_id, "--yes", env=env) == {
        "deployment_id": dep_id,
        "deleted": True,
    }
    assert fails("deployments", "show", dep_id, env=env).strip() == f"error: Deployment {dep_id} not found."
    assert not AlgoLog.objects.exists()


def test_bundles_create_list_deploy_delete(env, wasm_file):
    body = ok_json("bundles", "create", str(wasm_file), "--name", "mm v1", env=env)
    assert (
        set(body) == {"bundle_id", "name", "size_bytes", "sha256", "created_at"} and body["name"] == "mm v1"
    )
    bundle_id = body["bundle_id"]
    assert bundle_id in ok("bundles", "list", env=env)
    dep = ok_json("deployments", "create", "--symbols", "XRP-USD", "--bundle", bundle_id, "--start", env=env)
    assert dep["desired_state"] == "running" and dep["sha256"] == body["sha256"]
    assert "deleted" in ok("bundles", "delete", bundle_id, env=env)
    assert ok_json("bundles", "list", env=env) == {"bundles": []}
    assert ok_json("deployments", "show", dep["deployment_id"], env=env)["status"]  # still there


# -- errors ----------------------------------------------------------------------------------------------


def test_no_key_configured(cli_env):
    result = run("list", env=cli_env)
    assert result.returncode == 1 and "sequence login" in result.stderr


def test_api_refusals_exit_1_with_the_api_message(env, wasm_file):
    assert "Bad symbol 'BTCUSD'" in fails("deploy", "BTCUSD", "--wasm", str(wasm_file), env=env)
    assert fails("stats", "DOGE-USD", env=env).strip() == "error: No algo deployed on DOGE/USD."
    err = json.loads(fails("start", "DOGE-USD", "--json", env=env))
    assert err == {"error": "not_found", "message": "No algo deployed on DOGE/USD.", "status": 404}
    bad = {**env, "SEQUENCE_API_KEY": "seq_test_" + "x" * 44}
    assert "Unknown API key" in fails("list", env=bad)


def test_local_errors(env, tmp_path):
    assert fails("deploy", "BTC-USD", "--wasm", str(tmp_path / "nope.wasm"), env=env).strip() == (
        f"error: {tmp_path / 'nope.wasm'}: no such file."
    )
    err = json.loads(fails("deploy", "BTC-USD", "--json", "--wasm", str(tmp_path / "nope.wasm"), env=env))
    assert err["error"] == "file_not_found" and err["status"] == 0
    (tmp_path / "text.wat").write_text("(module)")
    assert "not a WebAssembly module" in fails(
        "deploy", "BTC-USD", "--wasm", str(tmp_path / "text.wat"), env=env
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not an algo project" in fails("deploy", "BTC-USD", env=env, cwd=empty)  # no build/, no sources

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "broken.c").write_text("int on_book( {\n")
    stderr = fails("build", str(broken), env=env)
    assert stderr.startswith("error: build failed: C compile (zig cc) failed") and "broken.c:1" in stderr
    assert not (broken / "build" / "broken.wasm").exists()
    assert "no Cargo.toml, .zig, .c or .wat" in fails("build", str(empty), env=env)

    # Usage errors exit 2.
    fails("deployments", "create", "--symbols", "A-B", "--wasm", "x", "--bundle", "y", env=env, code=2)
    fails("logs", "XRP-USD", "-n", "-1", env=env, code=2)


@pytest.mark.parametrize(
    ("value", "currency", "text"),
    [
        (12.1349, "USD", "+12.13 USD"),
        (-128528.78, "USD", "-128,528.78 USD"),
        (0.000125, "", "+0.000125"),
        (-0.000001, "", "-0.000001"),
        (0.0, "USD", "0.00 USD"),
        (-0.0000001, "", "0.00"),
    ],
)
def test_fmt_money(value: float, currency: str, text: str) -> None:
    from sequence_markets.cli_common import fmt_money

    assert fmt_money(value, currency) == text
