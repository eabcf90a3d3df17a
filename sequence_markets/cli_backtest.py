"""`sequence backtest DEPLOYMENT --from D --to D [--symbols S,..] [--seed N] [--capital USD] [--json]`.

Submits a backtest through the API, shows a progress bar (on stderr) while it runs, then prints the
metrics (or, with --json, the full results). Ctrl-C cancels the job. Exit 0 when it completed, 1
when it failed or was cancelled (the error says why).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from sequence_markets.cli_common import api_client
from sequence_markets.client import Sequence, SequenceError

_FINAL = ("completed", "failed", "cancelled")
_BAR = 30


def _client(args: argparse.Namespace) -> Sequence:
    return api_client(args, timeout=10.0)


def _bar(status: dict[str, Any]) -> str:
    pct = float(status.get("progress_pct") or 0.0)
    done = int(_BAR * pct / 100)
    phase = status.get("phase") or ""
    if phase == "preparing" and status.get("days_total"):
        doing = f"preparing data {status.get('days_prepared', 0)}/{status['days_total']} days"
    elif phase == "replaying" and status.get("events_per_second"):
        doing = f"{status['events_per_second']:,} events/s"
        if status.get("eta_seconds") is not None:
            doing += f", ~{status['eta_seconds']:.0f} s left"
    else:
        doing = status["status"]
    return (
        f"\r{status['job_id']} [{'#' * done}{'.' * (_BAR - done)}] {pct:5.1f}% "
        f"{status.get('events_processed', 0):,}/{status.get('total_events', 0):,} events · "
        f"{doing}   "
    )


def _metrics_text(results: dict[str, Any]) -> str:
    m = results["metrics"]
    rows = [
        ("total_pnl", f"{'+' if round(m['total_pnl'], 2) > 0 else ''}{m['total_pnl']:,.2f} USD"),
        ("sharpe", f"{m['sharpe']:.2f}"),
        ("max_drawdown_pct", f"{m['max_drawdown_pct']:.2f} %"),
        ("fill_count", f"{m['fill_count']:,}"),
        ("trade_count", f"{m['trade_count']:,}"),
        ("win_rate", f"{m['win_rate'] * 100:.1f} %"),
        ("fees", f"{m['fees']:,.2f} USD"),
        ("turnover", f"{m['turnover']:.2f}x"),
    ]
    summary = results.get("summary") or {}
    days = summary.get("data_days") or {}
    if days:
        rows.append(
            ("data", f"{days.get('recorded', 0)} recorded, {days.get('simulated', 0)} simulated symbol-days"
             + (f" (simulator seed {summary.get('seed')})" if days.get("simulated") else ""))
        )  # fmt: skip
    width = max(len(k) for k, _ in rows)
    lines = [f"Backtest {results['job_id']} completed"] + [f"  {k:<{width}}  {v}" for k, v in rows]
    if m.get("margin_breach"):
        lines.append(
            "  MARGIN BREACH: the account lost all of its capital during the run; a venue would have"
            " liquidated it (the figures go past what a real account could lose)."
        )
    return "\n".join(lines)


def cmd_backtest(args: argparse.Namespace) -> int:
    client = _client(args)
    body: dict[str, Any] = {"deployment_id": args.deployment, "seed": args.seed, "capital_usd": args.capital}
    if args.start:
        body["start_date"] = args.start
    if args.end:
        body["end_date"] = args.end
    if args.symbols:
        body["symbols"] = [s for s in args.symbols.replace(",", " ").split() if s]
    job = client.request("POST", "/backtest", json_body=body)
    job_id = job["job_id"]
    show_bar = not args.json and sys.stderr.isatty() or args.progress
    status = job
    try:
        while True:
            status = client.request("GET", f"/backtest/{job_id}")
            if show_bar:
                print(_bar(status), end="", file=sys.stderr, flush=True)
            if status["status"] in _FINAL:
                break
            time.sleep(args.poll)
    except KeyboardInterrupt:
        try:
            client.request("POST", f"/backtest/{job_id}/cancel")
            print(f"\ncancelled {job_id}", file=sys.stderr)
        except SequenceError as exc:
            print(f"\ncould not cancel {job_id}: {exc.message}", file=sys.stderr)
        return 130
    if show_bar:
        print(file=sys.stderr)
    if status["status"] != "completed":
        message = status.get("error") or f"the backtest was {status['status']}"
        if args.json:
            print(json.dumps(status), file=sys.stderr)
        else:
            print(f"error: {job_id} {status['status']}: {message}", file=sys.stderr)
        return 1
    results = client.request("GET", f"/backtest/{job_id}/results")
    print(json.dumps(results, indent=2) if args.json else _metrics_text(results))
    return 0


def add_backtest_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `sequence backtest` to the CLI's subcommands."""
    p = sub.add_parser("backtest", parents=[common], help="replay market history through a deployment's algo")
    p.add_argument("deployment", metavar="DEPLOYMENT", help="deployment id (dep_...)")
    p.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day (UTC)")
    p.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day, included (UTC)")
    p.add_argument("--symbols", help="comma-separated subset of the deployment's symbols (default: all)")
    p.add_argument("--seed", type=int, default=42, help="PRNG seed (default 42)")
    p.add_argument("--capital", type=float, default=100000, help="initial capital in USD (default 100000)")
    p.add_argument("--poll", type=float, default=0.5, help=argparse.SUPPRESS)
    p.add_argument(
        "--progress", action="store_true", help="show the progress bar even when not on a terminal"
    )
    p.set_defaults(func=cmd_backtest)
