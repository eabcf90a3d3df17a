"""`sequence strategy ...`: Sequence.toml, packaging with the vendored SDK, and the commands against a
real server (Django's live server; daphne + a real Celery worker for `logs --follow`)."""

from __future__ import annotations

import io
import json
import os
import queue
import socket
import subprocess
import sys
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings

import strategies.tasks  # noqa: F401 - registers the tasks before the worker starts
from sequence_markets.cli_strategy import CliError, build_artifact, sdk_modules
from sequence_markets.strategy_config import StrategyConfigError, load_strategy_config
from sequence_site.scope import Scope
from strategies import services
from strategies.models import Strategy, StrategyLog, StrategyRun
from tests.celery_worker import idle, running_worker
from tests.waiting import log_tail, unwatch_log, wait_until, watch_log

BIN = Path(sys.executable).parent
SEQUENCE = str(BIN / "sequence")
REPO = Path(__file__).resolve().parents[2]

TOML = """
[strategy]
name = "btc-dip-buyer"
runtime = "python"

[hosted]
entrypoint = "main.py"
memory_mb = 256

[hosted.env]
LOG_LEVEL = "info"
THRESHOLD = 0.5
DRY_RUN = true
MARKETS = ["BTC-USD", "ETH-USD"]
PAIRS_JSON = '[["KXBTC", "0xabc"]]'

[hosted.secrets]
SLACK_WEBHOOK = "https://hooks.example/T000/B000/XXXX"

[hosted.placement]
latency_target = ["coinbase"]
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


# -- Sequence.toml -------------------------------------------------------------------------------


def test_sequence_toml_is_read(tmp_path):
    config = load_strategy_config(write(tmp_path, {"Sequence.toml": TOML}))
    assert config.name == "btc-dip-buyer" and config.runtime == "python" and config.entrypoint == "main.py"
    assert config.memory_mb == 256 and config.latency_target == ["coinbase"]
    assert config.env == {
        "LOG_LEVEL": "info",
        "THRESHOLD": "0.5",
        "DRY_RUN": "true",
        "PAIRS_JSON": '[["KXBTC", "0xabc"]]',
    }
    assert config.secrets == {"SLACK_WEBHOOK": "https://hooks.example/T000/B000/XXXX"} and config.has_secrets
    # Arrays can't be env vars: they go to the manifest, as do *_JSON strings, parsed.
    assert config.manifest == {"MARKETS": ["BTC-USD", "ETH-USD"], "PAIRS_JSON": [["KXBTC", "0xabc"]]}


def test_no_sequence_toml_means_defaults(tmp_path):
    config = load_strategy_config(tmp_path)
    assert (
        config.name is None
        and config.entrypoint == "main.py"
        and config.path is None
        and not config.has_secrets
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[strategy\nname='x'", "not valid TOML"),
        ("[strategy]\nnmae = 'x'", "unknown key nmae in [strategy]"),
        ("[hosted]\nmemory = 5", "unknown key memory in [hosted]"),
        ("[hosted]\nmemory_mb = -1", "memory_mb must be a positive"),
        ("[hosted]\nmemory_mb = '512'", "memory_mb must be a positive"),
        ("[hosted.placement]\nlatency_target = 3", "latency_target must be a string or a list"),
        ("[hosted.secrets]\nTOKEN = ['a']", "[hosted.secrets] TOKEN must be a string"),
        ("strategy = 3", "[strategy] must be a table"),
        ("[strategy]\nname = ''", "name must be a non-empty string"),
    ],
)
def test_bad_sequence_toml_is_a_clear_error(tmp_path, text, message):
    write(tmp_path, {"Sequence.toml": text})
    with pytest.raises(StrategyConfigError) as info:
        load_strategy_config(tmp_path)
    assert message in str(info.value) and "Sequence.toml" in str(info.value)


# -- packaging -----------------------------------------------------------------------------------


def members(artifact: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"") for m in tar}


def test_the_sdk_is_vendored_without_the_cli():
    modules = sdk_modules()
    assert "__init__.py" in modules and "client.py" in modules
    assert not {
        "cli.py",
        "cli_strategy.py",
        "cli_algo.py",
        "config.py",
        "algo_build.py",
        "strategy_config.py",
    } & set(modules)


def test_artifact_contents(tmp_path):
    folder = write(
        tmp_path / "s",
        {"main.py": "print(1)", "Sequence.toml": TOML, "lib/x.py": "X = 1", "secrets.json": "{}",
         "__pycache__/main.cpython-311.pyc": "junk", ".git/HEAD": "ref", "lib/Sequence.toml": "kept: not the config"},
    )  # fmt: skip
    artifact, vendored, files = build_artifact(folder, exclude={folder / "secrets.json"})
    names = members(artifact)
    assert vendored is True and files == 3
    assert {"main.py", "lib/x.py", "lib/Sequence.toml"} <= set(names)
    assert {f"sequence_markets/{m}" for m in sdk_modules()} <= set(names)
    # Sequence.toml and the secrets file may hold secrets: those travel sealed, never in the tarball.
    assert "Sequence.toml" not in names and "secrets.json" not in names
    assert not any(name.startswith((".git", "__pycache__")) or "__pycache__" in name for name in names)
    assert not {
        "sequence_markets/cli.py",
        "sequence_markets/cli_strategy.py",
        "sequence_markets/config.py",
    } & set(names)


def test_a_folder_with_its_own_sdk_is_not_vendored_over(tmp_path):
    folder = write(tmp_path, {"main.py": "1", "sequence_markets/__init__.py": "# pinned v0.3"})
    artifact, vendored, _ = build_artifact(folder)
    assert vendored is False
    assert members(artifact)["sequence_markets/__init__.py"] == b"# pinned v0.3"
    assert "sequence_markets/client.py" not in members(artifact)


def test_symlinks_inside_are_kept_and_outside_refused(tmp_path):
    folder = write(tmp_path / "s", {"main.py": "1", "data/a.txt": "a"})
    (folder / "alias.txt").symlink_to("data/a.txt")
    artifact, _, _ = build_artifact(folder)
    with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as tar:
        assert tar.getmember("alias.txt").issym() and tar.getmember("alias.txt").linkname == "data/a.txt"
    (tmp_path / "outside.txt").write_text("x")
    (folder / "leak.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(CliError, match="outside the folder"):
        build_artifact(folder)


# -- commands against a live server ----------------------------------------------------------------


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SEQUENCE, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli_env(tmp_path, live_server, sandbox_key):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQUENCE_")}
    env.update(SEQUENCE_CONFIG_DIR=str(tmp_path / "config"), SEQUENCE_API_URL=live_server.url,
               SEQUENCE_API_KEY=sandbox_key.plaintext)  # fmt: skip
    return env


@pytest.fixture
def folder(tmp_path) -> Path:
    return write(tmp_path / "btc", {"main.py": "print('hello')", "Sequence.toml": TOML})


@pytest.mark.django_db(transaction=True)
def test_deploy_reads_the_toml_layers_flags_and_injects_the_key_on_start(
    cli_env, folder, tmp_path, sandbox_key
):
    (tmp_path / "secrets.json").write_text(
        json.dumps({"API_TOKEN": "tok-123", "SLACK_WEBHOOK": "https://override"})
    )
    (tmp_path / "manifest.json").write_text(json.dumps({"pairs": [{"a": 1}]}))
    result = run(
        "strategy", "deploy", str(folder), "--start", "--sandbox", "--json", "--env", "LOG_LEVEL=debug", "--env",
        "EXTRA=1", "--secrets-file", str(tmp_path / "secrets.json"), "--manifest", str(tmp_path / "manifest.json"),
        "--memory-mb", "300", "--latency-target", "kalshi", env=cli_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["name"] == "btc-dip-buyer" and body["status"] == "queued"
    assert body["env"] == {"LOG_LEVEL": "debug", "THRESHOLD": "0.5", "DRY_RUN": "true", "PAIRS_JSON": '[["KXBTC", "0xabc"]]',
                           "EXTRA": "1"}  # fmt: skip
    assert body["secret_names"] == ["API_TOKEN", "SLACK_WEBHOOK"]
    assert body["manifest"] == {"pairs": [{"a": 1}]}
    assert body["memory_mb"] == 300 and body["latency_target"] == ["kalshi"]
    assert body["has_sequence_api_key"] is True and "tok-123" not in result.stdout
    opened = services.strategy_open_secrets(strategy_id=body["strategy_id"])
    assert opened.sequence_api_key == sandbox_key.plaintext
    assert opened.secrets == {"API_TOKEN": "tok-123", "SLACK_WEBHOOK": "https://override"}
    strategy = Strategy.objects.get(pk=body["strategy_id"])
    assert strategy.artifact_has_sdk is True


@pytest.mark.django_db(transaction=True)
def test_list_status_start_stop_delete_by_name(cli_env, folder):
    result = run("strategy", "deploy", str(folder), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "Deployed btc-dip-buyer" in result.stdout and "SDK vendored" in result.stdout
    strategy = Strategy.objects.get(name="btc-dip-buyer")
    assert strategy.has_sequence_api_key is False  # no --start: no key injected

    listing = run("strategy", "list", env=cli_env)
    assert listing.returncode == 0 and "btc-dip-buyer" in listing.stdout and "stopped" in listing.stdout
    status = run("strategy", "status", "btc-dip-buyer", env=cli_env)
    assert status.returncode == 0 and str(strategy.pk) in status.stdout and "SLACK_WEBHOOK" in status.stdout
    assert "hooks.example" not in status.stdout  # secret names only
    assert (
        json.loads(run("strategy", "status", str(strategy.pk), "--json", env=cli_env).stdout)["name"]
        == "btc-dip-buyer"
    )

    assert run("strategy", "start", "btc-dip-buyer", env=cli_env).stdout.strip() == "btc-dip-buyer: queued"
    again = run("strategy", "start", "btc-dip-buyer", env=cli_env)
    assert again.returncode == 1 and "only a stopped or failed strategy can be started" in again.stderr
    assert run("strategy", "stop", "btc-dip-buyer", env=cli_env).stdout.strip() == "btc-dip-buyer: stopped"
    deleted = run("strategy", "delete", "btc-dip-buyer", env=cli_env)
    assert deleted.returncode == 0 and "purged" in deleted.stdout
    assert not Strategy.objects.exists()
    missing = run("strategy", "status", "btc-dip-buyer", env=cli_env)
    assert missing.returncode == 1 and "No sandbox strategy named 'btc-dip-buyer'" in missing.stderr


@pytest.mark.django_db(transaction=True)
def test_deploy_errors(cli_env, tmp_path):
    folder = write(
        tmp_path / "rusty", {"main.py": "1", "Sequence.toml": "[strategy]\nname='r'\nruntime='rust'"}
    )
    result = run("strategy", "deploy", str(folder), env=cli_env)
    assert result.returncode == 1 and "runtime must be 'python'" in result.stderr
    result = run("strategy", "deploy", str(tmp_path / "nope"), env=cli_env)
    assert result.returncode == 2 and "is not a folder" in result.stderr
    write(tmp_path / "typo", {"main.py": "1", "Sequence.toml": "[hosted]\nentry = 'x'"})
    result = run("strategy", "deploy", str(tmp_path / "typo"), env=cli_env)
    assert result.returncode == 2 and "unknown key entry in [hosted]" in result.stderr
    result = run("strategy", "deploy", str(folder), "--env", "NOEQUALS", env=cli_env)
    assert result.returncode == 2 and "KEY=VALUE" in result.stderr
    write(tmp_path / "noentry", {"app.py": "1"})
    result = run("strategy", "deploy", str(tmp_path / "noentry"), "--json", env=cli_env)
    assert (
        result.returncode == 1
        and "'main.py' is not a file in the artifact" in json.loads(result.stderr)["message"]
    )
    assert not Strategy.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_logs_prints_a_run_and_follow_polls_when_there_is_no_websocket(cli_env, owner, tmp_path):
    scope = Scope(client=owner, is_sandbox=True)
    artifact, _, _ = build_artifact(write(tmp_path / "p", {"main.py": "1"}))
    strategy = services.strategy_deploy(scope=scope, name="poller", artifact=artifact).strategy
    run_row = StrategyRun.objects.create(strategy=strategy, status="running")
    Strategy.objects.filter(pk=strategy.pk).update(status="running", current_run=run_row)
    now = datetime.now(tz=UTC)
    StrategyLog.objects.bulk_create(
        [StrategyLog(run=run_row, seq=1, stream="stdout", ts=now, line='{"event": "boot"}'),
         StrategyLog(run=run_row, seq=2, stream="stderr", ts=now, line="warning: x")]
    )  # fmt: skip
    result = run("strategy", "logs", "poller", env=cli_env)
    assert result.returncode == 0 and result.stdout == '{"event": "boot"}\n' and "warning: x" in result.stderr

    # live_server speaks plain HTTP (no websockets): --follow falls back to polling the cursor.
    follower = subprocess.Popen([SEQUENCE, "strategy", "logs", "poller", "--follow", "--json"], env=cli_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lines = read_lines(follower, 2, timeout=60)
        StrategyLog.objects.create(run=run_row, seq=3, stream="stdout", ts=now, line="later")
        lines += read_lines(follower, 1, timeout=60)
        Strategy.objects.filter(pk=strategy.pk).update(status="stopped")
        StrategyRun.objects.filter(pk=run_row.pk).update(status="stopped")
        assert follower.wait(timeout=60) == 0  # stopped: the follower ends by itself
    finally:
        if follower.poll() is None:
            follower.kill()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3]


def read_lines(process: subprocess.Popen[str], count: int, *, timeout: float) -> list[str]:
    result: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for _ in range(count):
            result.put(process.stdout.readline())

    threading.Thread(target=pump, daemon=True).start()
    return [result.get(timeout=timeout) for _ in range(count)]


# -- end to end: daphne, a real worker, the vendored SDK, and `logs --follow` over the websocket --------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    db = django_settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def daphne(transactional_db, tmp_path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": test_database_url(), "REDIS_URL": django_settings.REDIS_URL}
    log = tmp_path / "daphne.log"
    process = subprocess.Popen(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "sequence_site.asgi:application"],
        cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    watch_log("daphne", log)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"daphne exited with {process.returncode}: {log_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=5):  # noqa: S310 - local test server
                return True
        except OSError:
            return False

    wait_until(healthy, timeout=60, every=0.2, what="daphne to answer /v1/health", logs={"daphne": log})
    yield url
    unwatch_log("daphne")
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def worker(transactional_db, settings, strategy_run_dir, daphne) -> Iterator[None]:
    settings.STRATEGY_RUN_DIR = strategy_run_dir
    settings.STRATEGY_HEARTBEAT_SECONDS = 0.2
    settings.STRATEGY_STOP_GRACE_SECONDS = 1.0
    settings.SEQUENCE_PUBLIC_API_URL = daphne  # what strategies get as SEQUENCE_API_URL
    with running_worker(queues=["strategies", "default"], concurrency=3):
        yield
        for strategy in Strategy.objects.all():
            services.strategy_delete(strategy=strategy)
        wait_until(idle, timeout=60, what="the supervisors to return after the strategies were deleted")


# The strategy waits for the test twice: after its boot line and after tick 5, until a file appears
# in its workspace (its working folder; the sandbox shows it nothing else of the host). The test
# creates each file only once `logs --follow` has shown it the line before, so the strategy cannot
# finish before its output was streamed live (a mechanism, not a delay a loaded machine could stretch).
E2E_MAIN = """
import json, os, time
from pathlib import Path
from sequence_markets import Sequence, SequenceError

def wait_go(n):
    deadline = time.monotonic() + 120
    while not Path(f"go-{n}").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no go-{n}")
        time.sleep(0.05)

seq = Sequence(os.environ["SEQUENCE_API_KEY"], os.environ["SEQUENCE_API_URL"])
me = seq.whoami()
print(json.dumps({"event": "boot", "client_id": me["client"]["client_id"]}), flush=True)
wait_go(0)
for i in range(12):
    print(json.dumps({"event": "tick", "i": i}), flush=True)
    if i == 5:
        wait_go(1)
"""


@pytest.mark.slow
def test_deploy_start_and_follow_end_to_end(daphne, worker, tmp_path, sandbox_key, owner):
    folder = write(tmp_path / "e2e", {"main.py": E2E_MAIN, "Sequence.toml": '[strategy]\nname = "e2e"\n'})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQUENCE_")}
    env.update(SEQUENCE_CONFIG_DIR=str(tmp_path / "config"), SEQUENCE_API_URL=daphne,
               SEQUENCE_API_KEY=sandbox_key.plaintext)  # fmt: skip
    deployed = run("strategy", "deploy", str(folder), "--start", env=env)
    assert deployed.returncode == 0, deployed.stderr
    run_row = wait_until(
        lambda: StrategyRun.objects.filter(strategy__name="e2e", pid__isnull=False).first(), what="a run"
    )
    go = Path(django_settings.STRATEGY_RUN_DIR) / str(run_row.pk) / "workspace"  # seen from here

    follower = subprocess.Popen([SEQUENCE, "strategy", "logs", "e2e", "--follow"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)  # fmt: skip
    records: list[dict] = []
    try:
        for line in follower.stdout:
            records.append(json.loads(line))
            if records[-1]["event"] == "boot":
                (go / "go-0").touch()  # shown while the strategy waits: streamed live
            elif records[-1].get("i") == 5:
                (go / "go-1").touch()
        assert follower.wait(timeout=60) == 0, follower.stderr.read()
    finally:
        if follower.poll() is None:
            follower.kill()
    # The strategy reached the API with its injected key and URL through the vendored SDK.
    assert records[0]["event"] == "boot" and records[0]["client_id"] == owner.short_code
    # Every line exactly once, in order, and both waits released by lines the follower showed live.
    assert [r["i"] for r in records[1:]] == list(range(12))
    assert Strategy.objects.get(name="e2e").status == "stopped"
