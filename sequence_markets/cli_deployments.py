"""The `deployments` (v2, by id) and `bundles` groups of `sequence`: thin calls of the REST API;
`deployments logs --follow` tails the log websocket like `sequence logs`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sequence_markets.cli_common import (
    again,
    api_client,
    b64,
    confirm,
    default_wasm,
    edge_table,
    emit,
    fmt_log,
    fmt_size,
    fmt_time,
    follow,
    local_error,
    path_id,
    read_wasm,
    table,
    warnings_text,
)

# -- deployments (v2) ----------------------------------------------------------------------------------


def _deployment_human(d: dict[str, Any]) -> str:
    rows = [
        ("name", d.get("name") or "-"),
        ("symbols", ", ".join(d["symbols"])),
        ("status", f"{d['status']} (desired: {d['desired_state']})"),
        ("venue", d.get("venue") or "any"),
        ("size", fmt_size(d["size_bytes"])),
        ("sha256", d["sha256"]),
        ("created", fmt_time(d["created_at"])),
        ("modified", fmt_time(d["modified_at"])),
    ]
    text: str = d["deployment_id"] + "\n" + "\n".join(f"  {k:<9} {v}" for k, v in rows)
    if "pushed_to" in d:
        text += f"\n  {'pushed':<9} to {d['pushed_to']}/{d['capable_edges']} capable edges"
    return text + warnings_text(d) + "\n\n" + edge_table(d.get("edges", []))


def cmd_deployments_list(args: argparse.Namespace) -> int:
    def human(body: dict[str, Any]) -> str:
        items = body.get("deployments", [])
        if not items:
            return f"No deployments. Create one with {again(args, 'deployments create --symbols BTC-USD')}."
        return table(
            ["ID", "NAME", "SYMBOLS", "STATUS", "DESIRED", "VENUE", "SIZE", "CREATED"],
            [[d["deployment_id"], d.get("name") or "-", ",".join(d["symbols"]), d["status"],
              d["desired_state"], d.get("venue") or "any", fmt_size(d["size_bytes"]),
              fmt_time(d["created_at"])] for d in items],
            right=[6],
        )  # fmt: skip

    emit(args, api_client(args).request("GET", "/deployments"), human)
    return 0


def cmd_deployments_show(args: argparse.Namespace) -> int:
    emit(args, api_client(args).request("GET", f"/deployments/{path_id(args.id)}"), _deployment_human)
    return 0


def cmd_deployments_create(args: argparse.Namespace) -> int:
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        raise local_error("--symbols needs at least one symbol, e.g. --symbols BTC-USD,ETH-USD.", "usage")
    body: dict[str, Any] = {"symbols": symbols, "name": args.name, "venue": args.venue,
                            "start_immediately": args.start}  # fmt: skip
    if args.bundle:
        body["bundle_id"] = args.bundle
    else:
        body["wasm_base64"] = b64(read_wasm(Path(args.wasm) if args.wasm else default_wasm(args)))
    emit(args, api_client(args).request("POST", "/deployments", json_body=body), _deployment_human)
    return 0


def cmd_deployments_rename(args: argparse.Namespace) -> int:
    body = api_client(args).request(
        "PATCH", f"/deployments/{path_id(args.id)}", json_body={"name": args.name or None}
    )
    emit(args, body, lambda d: f"{d['deployment_id']}: renamed to {d.get('name') or '(no name)'}.")
    return 0


def _deployment_action(args: argparse.Namespace, verb: str) -> int:
    params = {"venue": args.venue} if args.venue else None
    body = api_client(args).request("POST", f"/deployments/{path_id(args.id)}/{verb}", params=params)
    emit(
        args,
        body,
        lambda d: (
            f"{d['deployment_id']}: {d['desired_state']} ({d['edges_notified']} edge(s) notified)."
            + warnings_text(d)
        ),
    )
    return 0


def cmd_deployments_start(args: argparse.Namespace) -> int:
    return _deployment_action(args, "start")


def cmd_deployments_stop(args: argparse.Namespace) -> int:
    return _deployment_action(args, "stop")


def cmd_deployments_delete(args: argparse.Namespace) -> int:
    client = api_client(args)
    if not confirm(
        args,
        f"Delete deployment {args.id}? It stops on every edge and its logs, traces and metrics are "
        "deleted. This cannot be undone.",
    ):
        print("Aborted: nothing was changed.", file=sys.stderr)
        return 1
    body = client.request("DELETE", f"/deployments/{path_id(args.id)}")
    emit(args, body, lambda d: f"{d['deployment_id']}: deleted.")
    return 0


def cmd_deployments_logs(args: argparse.Namespace) -> int:
    client = api_client(args)
    path = f"/deployments/{path_id(args.id)}"
    params = {"edge_id": args.edge, "symbol": args.symbol}

    def fetch(limit: int = 1) -> dict[str, Any]:
        body: dict[str, Any] = client.request("GET", f"{path}/logs", params={**params, "limit": limit})
        return body

    if args.follow:
        if args.symbol:
            raise local_error(
                "--symbol works without --follow only; filter a followed stream with --edge.", "usage"
            )
        return follow(
            args, client, f"{path}/logs/stream", fetch, label=f"logs of deployment {args.id}",
            backlog=args.lines, edge_id=args.edge, with_symbol=True,
        )  # fmt: skip
    if args.lines == 0:
        body = fetch(1)
        body["logs"] = []
    else:
        body = fetch(min(args.lines, 1000))
    emit(
        args,
        body,
        lambda d: "\n".join(fmt_log(line, with_symbol=True) for line in d["logs"]) or "(no log lines yet)",
    )
    return 0


# -- bundles -------------------------------------------------------------------------------------------


def cmd_bundles_list(args: argparse.Namespace) -> int:
    def human(body: dict[str, Any]) -> str:
        items = body.get("bundles", [])
        if not items:
            return f"No bundles. Register one with {again(args, 'bundles create FILE.wasm')}."
        return table(
            ["ID", "NAME", "SIZE", "SHA256", "CREATED"],
            [[b["bundle_id"], b["name"] or "-", fmt_size(b["size_bytes"]), b["sha256"][:16],
              fmt_time(b["created_at"])] for b in items],
            right=[2],
        )  # fmt: skip

    emit(args, api_client(args).request("GET", "/bundles"), human)
    return 0


def cmd_bundles_create(args: argparse.Namespace) -> int:
    wasm = read_wasm(args.file)
    name = args.name if args.name is not None else Path(args.file).stem
    body = api_client(args).request("POST", "/bundles", json_body={"wasm_base64": b64(wasm), "name": name})
    emit(
        args,
        body,
        lambda d: (
            f"Bundle {d['bundle_id']} ({d['name'] or 'no name'}, {d['size_bytes']:,} bytes). "
            "Deploy it with "
            + again(args, "deployments create --symbols BTC-USD --bundle " + d["bundle_id"])
            + "."
        ),
    )
    return 0


def cmd_bundles_delete(args: argparse.Namespace) -> int:
    body = api_client(args).request("DELETE", f"/bundles/{path_id(args.id)}")
    emit(args, body, lambda d: f"Bundle {d['bundle_id']} deleted (deployments made from it keep running).")
    return 0
