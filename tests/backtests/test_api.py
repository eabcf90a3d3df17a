"""/v1/backtest end to end: a real Celery worker on the `backtests` queue, real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.management import call_command

from backtests.models import BacktestJob, BacktestTransition
from backtests.services import progress_group
from sequence_site import services as site_services
from sequence_site.models import Mode
from tests.backtests.conftest import (
    BUSY_WAT,
    IDLE_WAT,
    SCENARIO_CSV,
    SCENARIO_DAY,
    SCENARIO_WAT,
    trap_wat,
    wait_status,
)
from tests.celery_worker import idle
from tests.edges.conftest import wait_for, wat

DAY = {"start_date": "2026-01-10", "end_date": "2026-01-10"}


def submit(api, deployment, **body):
    return api.post("/v1/backtest", json={"deployment_id": deployment.deployment_id, **DAY, **body})


def transitions(job_id: str) -> list[tuple[str, str]]:
    return list(BacktestTransition.objects.filter(job_id=job_id).values_list("from_status", "to_status"))


def test_submit_run_and_read_results(api, owner, celery_worker, make_deployment, mm_wasm):
    dep = make_deployment(owner, mm_wasm)
    status, body = submit(api, dep)
    assert status == 200 and body["status"] == "queued" and body["job_id"].startswith("bt_")
    assert len(body["job_id"]) == 11 and int(body["job_id"][3:], 16) >= 0
    final = wait_status(api, body["job_id"], ("completed", "failed"))
    assert final["status"] == "completed", final
    assert final["progress_pct"] == 100.0 and final["error"] is None
    assert final["events_processed"] == final["total_events"] > 20_000

    status, results = api.get(f"/v1/backtest/{body['job_id']}/results")
    assert status == 200
    assert results["job_id"] == body["job_id"]
    assert set(results) >= {"metrics", "equity_curve", "trades", "traces"}
    assert set(results["metrics"]) >= {
        "total_pnl", "sharpe", "max_drawdown_pct", "fill_count", "trade_count", "fees", "turnover", "win_rate",
    }  # fmt: skip
    assert results["metrics"]["fill_count"] > 0 and results["trades"]
    assert len(results["equity_curve"]) == 25  # hourly over one day, both ends included
    assert results["traces"] and "latency_ns" not in results["traces"][0]
    # Like every non-algo endpoint, the results spell symbols with a hyphen (the spec's traces too).
    symbols = {t["symbol"] for t in results["trades"] + results["traces"] + results["logs"]}
    assert symbols == {"ETH-USDC"} and results["summary"]["symbols"] == ["ETH-USDC"]
    assert list(results["summary"]["positions"]) == ["ETH-USDC"]
    assert api.get("/v1/backtest")[1]["backtests"][0]["symbols"] == ["ETH-USDC"]
    assert transitions(body["job_id"]) == [("queued", "running"), ("running", "completed")]


def test_two_runs_are_byte_identical_and_another_seed_differs(
    api, owner, celery_worker, make_deployment, mm_wasm
):
    dep = make_deployment(owner, mm_wasm)
    ids = [submit(api, dep, seed=seed)[1]["job_id"] for seed in (5, 5, 6)]
    for job_id in ids:
        assert wait_status(api, job_id, ("completed", "failed"))["status"] == "completed"
    a, b, c = (BacktestJob.objects.get(pk=i).results_json for i in ids)
    assert a == b and a != c
    bodies = [api.get(f"/v1/backtest/{i}/results")[1] for i in ids[:2]]
    assert {k: v for k, v in bodies[0].items() if k != "job_id"} == {
        k: v for k, v in bodies[1].items() if k != "job_id"
    }


def test_imported_csv_then_backtest_gives_the_scenario(
    api, owner, celery_worker, make_deployment, market_data, tmp_path
):
    csv_file = tmp_path / "book.csv"
    csv_file.write_text(SCENARIO_CSV)
    call_command("import_market_data", str(csv_file), "--venue", "coinbase", "--symbol", "ETH-USD")
    assert list((market_data / "coinbase" / "ETH-USD" / SCENARIO_DAY).glob("import-*.parquet"))
    dep = make_deployment(owner, wat(SCENARIO_WAT), symbols=("ETH/USD",), venue=None)  # default venue
    status, body = api.post(
        "/v1/backtest",
        json={"deployment_id": dep.deployment_id, "symbols": ["ETH-USD"], "start_date": SCENARIO_DAY,
              "end_date": SCENARIO_DAY, "capital_usd": 1000},
    )  # fmt: skip
    assert status == 200, body
    final = wait_status(api, body["job_id"], ("completed", "failed"))
    assert final["status"] == "completed" and final["total_events"] == 4
    _, results = api.get(f"/v1/backtest/{body['job_id']}/results")
    assert results["metrics"]["fill_count"] == 2
    assert results["metrics"]["total_pnl"] == pytest.approx(-0.3066)
    assert results["metrics"]["max_drawdown_pct"] == pytest.approx(0.16506)


def test_trap_fails_the_job_with_the_message_and_results_stay_404(api, owner, celery_worker, make_deployment):
    dep = make_deployment(owner, trap_wat(1000))
    job_id = submit(api, dep)[1]["job_id"]
    final = wait_status(api, job_id, ("completed", "failed"))
    assert final["status"] == "failed"
    assert final["error"].startswith("algo trapped at event 1000 (ETH-USDC): ")
    assert final["events_processed"] == 999
    status, body = api.get(f"/v1/backtest/{job_id}/results")
    assert status == 404 and body["error"] == "not_found"
    assert transitions(job_id) == [("queued", "running"), ("running", "failed")]


def test_progress_advances_and_is_pushed(api, owner, celery_worker, make_deployment):
    layer = get_channel_layer()
    dep = make_deployment(owner, wat(BUSY_WAT))
    # Three days not generated yet: preparing them takes a while, so joining the group right after
    # submitting is in time for every progress message.
    job_id = submit(api, dep, start_date="2026-01-11", end_date="2026-01-13")[1]["job_id"]

    async def listen() -> tuple[list[dict], list[int]]:
        channel = await layer.new_channel()
        await layer.group_add(progress_group(job_id), channel)
        seen: list[dict] = []
        polled: list[int] = []
        while True:
            message = await asyncio.wait_for(layer.receive(channel), timeout=30)
            seen.append(message)
            _, status = await sync_to_async(api.get)(f"/v1/backtest/{job_id}")
            polled.append(status["events_processed"])
            if message["status"] in ("completed", "failed"):
                return seen, polled

    seen, polled = async_to_sync(listen)()
    assert seen[-1]["status"] == "completed", seen[-1]
    assert seen[-1]["type"] == "backtest.progress"
    running = [m for m in seen if m["status"] == "running" and 0 < m["events_processed"] < m["total_events"]]
    assert len(running) >= 2, seen
    counts = [m["events_processed"] for m in running]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    assert 0 < running[0]["progress_pct"] < 100
    assert any(0 < p < seen[-1]["total_events"] for p in polled)  # polling saw it mid-way too
    assert seen[-1]["total_events"] > 60_000  # three simulated days of kraken ETH/USDC
    # What it was doing: preparing the three days, then replaying at a measured speed with an ETA;
    # the data's provenance from the moment it is known, and no phase once it is final.
    assert seen[0]["phase"] == "preparing" and seen[0]["days_total"] == 3
    assert all(m["phase"] == "replaying" and m["events_per_second"] > 0 for m in running)
    assert all(m["eta_seconds"] is not None and m["eta_seconds"] >= 0 for m in running)
    assert running[0]["data_days"] == {"recorded": 0, "simulated": 3}
    assert seen[-1]["phase"] == "" and seen[-1]["data_days"] == {"recorded": 0, "simulated": 3}


def test_cancel_a_running_job(api, owner, celery_worker, make_deployment, mm_wasm):
    dep = make_deployment(owner, mm_wasm)
    job_id = submit(api, dep, start_date="2026-01-14", end_date="2026-01-20")[1]["job_id"]
    wait_status(api, job_id, ("running",))
    status, body = api.post(f"/v1/backtest/{job_id}/cancel")
    assert status == 200 and body["status"] == "cancelled"
    # Once the worker has let go of the job, it did not overwrite the cancel.
    wait_for(idle, what="the worker to let go of the cancelled job")
    assert api.get(f"/v1/backtest/{job_id}")[1]["status"] == "cancelled"
    assert api.get(f"/v1/backtest/{job_id}/results")[0] == 404
    status, body = api.post(f"/v1/backtest/{job_id}/cancel")
    assert status == 409 and body["error"] == "invalid_transition"
    assert transitions(job_id) == [("queued", "running"), ("running", "cancelled")]


# -- negative tests (no worker needed: nothing valid is queued) -----------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"start_date": "2026-01-10", "end_date": "2026-01-09"}, "before start_date"),
        ({"start_date": "1999-12-01", "end_date": "1999-12-02"}, "before 2000-01-01"),
        ({"start_date": "2024-01-01", "end_date": "2025-06-01"}, "at most 366 days"),
        ({"start_date": "2026-01-10", "end_date": "2999-01-01"}, "in the future"),
        ({"capital_usd": 0}, "capital_usd must be above 0"),
        ({"capital_usd": -5}, "capital_usd must be above 0"),
        ({"symbols": ["BTC-USD"]}, "not a symbol of"),
        ({"symbols": ["nonsense"]}, "Bad symbol"),
        ({"seed": -1}, "seed must be"),
        ({"start_date": "2026-13-01"}, "start_date"),
        ({"capital_usd": "lots"}, "capital_usd"),
    ],
)
def test_bad_input_is_a_400_and_queues_nothing(api, owner, make_deployment, body, message):
    dep = make_deployment(owner, wat(IDLE_WAT))
    status, answer = api.post("/v1/backtest", json={"deployment_id": dep.deployment_id, **DAY, **body})
    assert status == 400, answer
    assert message in answer["message"]
    assert not BacktestJob.objects.exists()


def test_missing_deployment_id_is_a_400(api, db):
    status, body = api.post("/v1/backtest", json={"start_date": "2026-01-01"})
    assert status == 400 and body["error"] == "invalid_request"


def test_other_clients_and_other_modes_deployments_are_404(api, owner, stranger, make_deployment, live_key):
    theirs = make_deployment(stranger, wat(IDLE_WAT))
    live = make_deployment(owner, wat(IDLE_WAT), is_sandbox=False)
    for dep in (theirs, live):
        status, body = api.post("/v1/backtest", json={"deployment_id": dep.deployment_id, **DAY})
        assert status == 404 and body["error"] == "not_found"
    assert api.post("/v1/backtest", json={"deployment_id": "dep_nope", **DAY})[0] == 404
    # The live key does see the live one (and queues a job for it).
    status, body = api.post(
        "/v1/backtest", json={"deployment_id": live.deployment_id, **DAY}, key=live_key.plaintext
    )
    assert status == 200


def test_jobs_are_isolated_between_clients_and_modes(
    api, owner, stranger, make_deployment, live_key, stranger_sandbox_key
):
    dep = make_deployment(owner, wat(IDLE_WAT))
    job_id = submit(api, dep)[1]["job_id"]
    other_mode = site_services.api_key_create(client=owner, mode=Mode.LIVE, name="x").plaintext
    for key in (stranger_sandbox_key.plaintext, live_key.plaintext, other_mode):
        for path in (f"/v1/backtest/{job_id}", f"/v1/backtest/{job_id}/results"):
            status, body = api.get(path, key=key)
            assert status == 404 and body["error"] == "not_found"
        assert api.post(f"/v1/backtest/{job_id}/cancel", key=key)[0] == 404
        assert api.get("/v1/backtest", key=key)[1]["backtests"] == []
    assert [b["job_id"] for b in api.get("/v1/backtest")[1]["backtests"]] == [job_id]
    assert BacktestJob.objects.get(pk=job_id).status == "queued"  # nobody else's cancel touched it


def test_results_of_a_queued_job_are_404_and_unknown_ids_too(api, owner, make_deployment):
    dep = make_deployment(owner, wat(IDLE_WAT))
    job_id = submit(api, dep)[1]["job_id"]
    assert api.get(f"/v1/backtest/{job_id}")[1] == {
        "job_id": job_id, "status": "queued", "progress_pct": 0.0, "events_processed": 0,
        "total_events": 0, "error": None, "phase": "", "days_prepared": 0, "days_total": 0,
        "events_per_second": None, "eta_seconds": None, "data_days": None,
    }  # fmt: skip
    assert api.get(f"/v1/backtest/{job_id}/results")[0] == 404
    assert api.get("/v1/backtest/bt_00000000")[0] == 404
    assert api.get("/v1/backtest/bt_00000000/results")[0] == 404


def test_cancel_a_queued_job_and_the_worker_skips_it(api, owner, make_deployment):
    dep = make_deployment(owner, wat(IDLE_WAT))
    job_id = submit(api, dep)[1]["job_id"]
    status, body = api.post(f"/v1/backtest/{job_id}/cancel")
    assert status == 200 and body["status"] == "cancelled"
    from backtests.services import backtest_run

    backtest_run(job_id=job_id)  # what the task does when it finally gets the message
    assert BacktestJob.objects.get(pk=job_id).status == "cancelled"
    assert transitions(job_id) == [("queued", "cancelled")]


def test_requests_need_a_key(anon_api, db):
    assert anon_api.post("/v1/backtest", json={"deployment_id": "dep_x"})[0] == 401
    assert anon_api.get("/v1/backtest/bt_00000000")[0] == 401


def test_results_json_is_canonical(api, owner, celery_worker, make_deployment):
    dep = make_deployment(owner, wat(IDLE_WAT))
    job_id = submit(api, dep)[1]["job_id"]
    wait_status(api, job_id, ("completed",))
    stored = BacktestJob.objects.get(pk=job_id).results_json
    assert stored == json.dumps(json.loads(stored), sort_keys=True, separators=(",", ":"))


def test_the_replay_blocks_stay_within_their_budget_and_rebuilt_blocks_give_the_same_bytes(
    api, owner, celery_worker, make_deployment, mm_wasm, market_data, settings
):
    # A budget of 0: the job that wrote the blocks of its two days removes them once it is done
    # (the Parquet files stay); the next job decodes the days from Parquet again, read ahead by
    # the replay's thread, and gives the same bytes as a job that read kept blocks.
    dep = make_deployment(owner, mm_wasm)
    span = {"start_date": "2026-01-20", "end_date": "2026-01-21", "seed": 7}
    sim = market_data / "kraken" / "ETH-USDC" / "sim-v2" / "7"

    def run() -> str:
        job_id = submit(api, dep, **span)[1]["job_id"]
        assert wait_status(api, job_id, ("completed", "failed"))["status"] == "completed"
        wait_for(idle, timeout=60, what="the worker to finish the job (and its trim)")
        return BacktestJob.objects.get(pk=job_id).results_json

    kept = run()  # the default budget keeps them
    assert sorted(p.name for p in sim.glob("*.block.arrow")) == [
        "2026-01-20.block.arrow",
        "2026-01-21.block.arrow",
    ]
    assert run() == kept  # from the kept blocks
    settings.MARKET_DATA_BLOCK_CACHE_MB = 0
    for p in sim.glob("*.block.arrow"):
        p.unlink()
    assert run() == kept  # decoded from Parquet, blocks written, then trimmed
    assert not list(sim.glob("*.block.arrow")) and len(list(sim.glob("*.parquet"))) == 2
    assert run() == kept
