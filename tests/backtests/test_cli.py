"""`sequence backtest` against a real server and a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backtests.conftest import IDLE_WAT, SCENARIO_CSV, SCENARIO_DAY, SCENARIO_WAT, trap_wat
from tests.edges.conftest import wat

SEQUENCE = str(Path(sys.executable).parent / "sequence")


@pytest.fixture
def cli(live_server, tmp_path, sandbox_key):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQUENCE_")}
    env["SEQUENCE_CONFIG_DIR"] = str(tmp_path / "config")
    login = subprocess.run([SEQUENCE, "login", "--url", live_server.url, "--api-key", sandbox_key.plaintext],
                           env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert login.returncode == 0, login.stderr

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SEQUENCE, *args], env=env, capture_output=True, text=True, timeout=60)

    return run


def test_backtest_prints_metrics_and_json(cli, owner, celery_worker, make_deployment, market_data, tmp_path):
    from django.core.management import call_command

    csv_file = tmp_path / "book.csv"
    csv_file.write_text(SCENARIO_CSV)
    call_command("import_market_data", str(csv_file), "--venue", "coinbase", "--symbol", "ETH/USD")
    dep = make_deployment(owner, wat(SCENARIO_WAT), symbols=("ETH/USD",), venue="coinbase")
    args = [dep.deployment_id, "--from", SCENARIO_DAY, "--to", SCENARIO_DAY, "--capital", "1000"]
    result = cli("backtest", *args, "--progress")
    assert result.returncode == 0, result.stderr
    assert "total_pnl" in result.stdout and "-0.31 USD" in result.stdout
    assert "1 recorded, 0 simulated symbol-days" in result.stdout and "MARGIN BREACH" not in result.stdout
    assert "100.0%" in result.stderr and "4/4 events" in result.stderr
    broke = cli("backtest", *args[:-1], "1")  # 1 USD of capital: the account breaks on the way
    assert broke.returncode == 0, broke.stderr
    assert "MARGIN BREACH" in broke.stdout
    result = cli("backtest", *args, "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["metrics"]["fill_count"] == 2 and body["job_id"].startswith("bt_")


def test_backtest_failure_and_bad_input_exit_1(cli, owner, celery_worker, make_deployment):
    dep = make_deployment(owner, trap_wat(5))
    result = cli("backtest", dep.deployment_id, "--from", "2026-01-10", "--to", "2026-01-10")
    assert result.returncode == 1 and "algo trapped at event 5" in result.stderr
    idle = make_deployment(owner, wat(IDLE_WAT), symbols=("BTC/USDC",))
    result = cli("backtest", idle.deployment_id, "--from", "2026-01-10", "--to", "2026-01-01")
    assert result.returncode == 1 and "before start_date" in result.stderr
