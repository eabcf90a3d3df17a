"""``sequence strategy ...``: deploy a folder as a hosted strategy, and list, inspect, start, stop,
delete and tail it. Everything goes through the REST API (``/v1/strategies``); ``logs --follow``
uses the log websocket (``sequence_markets.ws``) and falls back to polling the cursor API.

Standard library only, like the rest of the CLI.
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sequence_markets.cli_common import add_global_flags, again, api_client, confirm, line_count
from sequence_markets.cli_common import emit as _emit
from sequence_markets.client import Sequence, SequenceError
from sequence_markets.config import Config, key_mode
from sequence_markets.strategy_config import FILENAME, StrategyConfigError, load_strategy_config
from sequence_markets.ws import WebSocketClosed, WebSocketError, connect

SDK_PACKAGE = "sequence_markets"
SDK_ROOT = Path(__file__).resolve().parent
# Never shipped inside an artifact: the CLI itself, and anything that isn't needed at run time.
SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".venv",
    "venv",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
    ".idea",
    ".vscode",
}
SKIP_FILES = {FILENAME, ".DS_Store"}  # Sequence.toml may hold [hosted.secrets]: its values travel sealed
UPLOAD_WARN_BYTES = 20 * 1024 * 1024
FOLLOW_POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 20.0  # silence after which the follower pings; a second silence means the link is dead
FINAL_RUN_STATUSES = {"stopped", "failed", "cancelled"}


class CliError(Exception):
    """A usage problem found before calling the API (exit code 2)."""


# -- packaging -------------------------------------------------------------------------------


def sdk_modules(root: Path = SDK_ROOT) -> list[str]:
    """The SDK's module files a strategy needs: ``__init__.py`` and what it imports, transitively,
    within the package (so the CLI, its config and the algo builder are never vendored)."""
    needed: list[str] = []
    pending = ["__init__.py"]
    while pending:
        name = pending.pop()
        if name in needed or not (root / name).is_file():
            continue
        needed.append(name)
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1 and node.module:
                    pending.append(f"{node.module.split('.')[0]}.py")
                elif node.level == 1:
                    pending.extend(f"{alias.name}.py" for alias in node.names)
                elif node.module and node.module.startswith(f"{SDK_PACKAGE}."):
                    pending.append(f"{node.module.split('.')[1]}.py")
                elif node.module == SDK_PACKAGE:
                    pending.extend(f"{alias.name}.py" for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(f"{SDK_PACKAGE}."):
                        pending.append(f"{alias.name.split('.')[1]}.py")
    return sorted(needed)


def _tarinfo(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, int(time.time())
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_artifact(folder: Path, *, exclude: set[Path] | None = None) -> tuple[bytes, bool, int]:
    """tar.gz the folder (plus the SDK unless it has its own ``sequence_markets/``).

    Returns (bytes, whether the SDK was vendored, number of files)."""
    folder = folder.resolve()
    excluded = {path.resolve() for path in (exclude or set())}
    buffer = io.BytesIO()
    count = 0
    vendored = not (folder / SDK_PACKAGE / "__init__.py").is_file()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            base = Path(dirpath)
            for name in sorted(filenames):
                path = base / name
                relative = path.relative_to(folder).as_posix()
                if (
                    name in SKIP_FILES
                    and base == folder
                    or path.resolve() in excluded
                    or name.endswith(".pyc")
                ):
                    continue
                if path.is_symlink():
                    target = path.resolve()
                    if not target.is_relative_to(folder):
                        raise CliError(
                            f"{relative} is a symlink to {target}, outside the folder: copy the file in."
                        )
                    link = tarfile.TarInfo(relative)
                    link.type, link.linkname = tarfile.SYMTYPE, os.path.relpath(target, path.parent)
                    tar.addfile(link)
                elif path.is_file():
                    data = path.read_bytes()
                    if name.endswith(".py"):
                        _check_syntax(relative, data)
                    mode = 0o755 if os.access(path, os.X_OK) else 0o644
                    tar.addfile(_tarinfo(relative, len(data), mode), io.BytesIO(data))
                else:
                    continue
                count += 1
        if vendored:
            for name in sdk_modules():
                data = (SDK_ROOT / name).read_bytes()
                tar.addfile(_tarinfo(f"{SDK_PACKAGE}/{name}", len(data)), io.BytesIO(data))
    return buffer.getvalue(), vendored, count


def _check_syntax(relative: str, source: bytes) -> None:
    """Refuse a module that can't compile before it is uploaded into a crash loop: the file, the
    line and Python's message, like the traceback the run would end with."""
    try:
        compile(source, relative, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"{relative}:{exc.lineno}" if exc.lineno else relative
        text = f"\n    {exc.text.rstrip()}" if exc.text else ""
        raise CliError(f"{where}: {exc.msg} (nothing was uploaded){text}") from None
    except ValueError as exc:  # e.g. NUL bytes in the source
        raise CliError(f"{relative}: {exc} (nothing was uploaded)") from None


# -- helpers ---------------------------------------------------------------------------------


def _client(args: argparse.Namespace, *, timeout: float = 10.0) -> Sequence:
    return api_client(args, timeout=timeout)


def _find(client: Sequence, ref: str) -> dict[str, Any]:
    """A strategy by id or by name (within the key's client and mode)."""
    try:
        uuid.UUID(ref)
    except ValueError:
        pass
    else:
        body: dict[str, Any] = client.request("GET", f"/strategies/{ref}")
        return body
    for strategy in client.request("GET", "/strategies")["strategies"]:
        if strategy["name"] == ref:
            found: dict[str, Any] = client.request("GET", f"/strategies/{strategy['strategy_id']}")
            return found
    mode = "sandbox" if key_mode(client.api_key) == "test" else "live"
    raise SequenceError(
        404,
        f"No {mode} strategy named {ref!r}.{_other_mode_hint(client, ref)} "
        "`sequence strategy list` shows yours.",
        "not_found",
    )


def _other_mode_hint(client: Sequence, ref: str) -> str:
    """When the name exists in the other mode (with the other key the CLI holds), say so: a
    missing --sandbox is the usual reason for a strategy "not found"."""
    if os.environ.get("SEQUENCE_API_KEY"):
        return ""
    other_mode = "live" if key_mode(client.api_key) == "test" else "test"
    other_key = Config.load().keys.get(other_mode)
    if not other_key:
        return ""
    try:
        names = {
            s["name"]
            for s in Sequence(other_key, client.base_url).request("GET", "/strategies")["strategies"]
        }
    except (SequenceError, OSError):
        return ""
    if ref not in names:
        return ""
    if other_mode == "test":
        return " There is a sandbox one: add --sandbox."
    return " There is a live one: run it without --sandbox."


def _parse_env(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--env takes KEY=VALUE, not {pair!r}.")
        out[key] = value
    return out


def _json_object(path: str, flag: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"{flag} {path}: {exc.strerror}.") from None
    except ValueError as exc:
        raise CliError(f"{flag} {path} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise CliError(f"{flag} {path} must hold a JSON object.")
    return data


def _last_exit(strategy: dict[str, Any]) -> str:
    last = strategy.get("last_exit")
    return last["reason"] if last else "—"


def _summary(strategy: dict[str, Any]) -> str:
    run = strategy.get("current_run") or {}
    lines = [
        f"{strategy['name']}  {strategy['status']}  ({'sandbox' if strategy['is_sandbox'] else 'LIVE'})",
        f"  strategy_id      {strategy['strategy_id']}",
        f"  artifact_sha256  {strategy['artifact_sha256']}  ({strategy['artifact_size_bytes']} bytes)",
        f"  entrypoint       python -u {strategy['entrypoint']}   memory {strategy['memory_mb']} MiB",
        f"  latency target   {', '.join(strategy['latency_target']) or '—'}",
        f"  env              {', '.join(f'{k}={v}' for k, v in strategy['env'].items()) or '—'}",
        f"  secrets          {', '.join(strategy['secret_names']) or '—'} (names only)",
        f"  api key          {'set' if strategy['has_sequence_api_key'] else 'none (no SEQUENCE_API_KEY)'}",
        f"  current run      {run.get('run_id', '—')} {run.get('status', '')}".rstrip(),
        f"  last exit        {_last_exit(strategy)}",
        f"  restarts         {strategy['restart_count']}",
    ]
    if strategy.get("next_attempt_at"):
        lines.append(f"  next attempt     {strategy['next_attempt_at']}")
    return "\n".join(lines)


# -- commands --------------------------------------------------------------------------------


def cmd_deploy(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if not folder.is_dir():
        raise CliError(f"{folder} is not a folder.")
    try:
        config = load_strategy_config(folder)
    except StrategyConfigError as exc:
        raise CliError(str(exc)) from None
    if not (folder / FILENAME).is_file() and not args.json:
        print(
            f"note: no {FILENAME} in {folder}: using the defaults (entrypoint main.py, the folder's name).",
            file=sys.stderr,
        )
    name = args.name or config.name or folder.resolve().name
    entrypoint = args.entrypoint or config.entrypoint
    env = {**config.env, **_parse_env(args.env or [])}
    secrets: dict[str, Any] | None = dict(config.secrets) if config.has_secrets else None
    exclude: set[Path] = set()
    if args.secrets_file:
        secrets = {**(secrets or {}), **_json_object(args.secrets_file, "--secrets-file")}
        exclude.add(Path(args.secrets_file))
    manifest = _json_object(args.manifest, "--manifest") if args.manifest else config.manifest
    targets = [t.strip() for value in (args.latency_target or []) for t in value.split(",") if t.strip()]
    artifact, vendored, files = build_artifact(folder, exclude=exclude)
    if len(artifact) > UPLOAD_WARN_BYTES:
        print(
            f"warning: the artifact is {len(artifact) // 1024} KiB; the server refuses over 20 MiB.",
            file=sys.stderr,
        )

    client = _client(args, timeout=120.0)
    body: dict[str, Any] = {
        "name": name,
        "runtime": config.runtime,
        "entrypoint": entrypoint,
        "artifact_base64": base64.b64encode(artifact).decode(),
        "env": env,
        "manifest": manifest,
        "memory_mb": args.memory_mb or config.memory_mb,
        "latency_target": targets or config.latency_target,
        "start": args.start,
    }
    if secrets is not None:
        body["secrets"] = secrets
    if args.start:
        body["sequence_api_key"] = client.api_key  # the strategy acts with the key that deployed it
    strategy = client.request("POST", "/strategies", json_body=body)
    sha = hashlib.sha256(artifact).hexdigest()

    def human(s: dict[str, Any]) -> str:
        sdk = "SDK vendored" if vendored else "own sequence_markets/"
        return (
            f"Deployed {s['name']} · strategy_id {s['strategy_id']}\n"
            f"  artifact {sha[:16]}… · {len(artifact)} bytes · {files} files · {sdk}\n"
            f"  status {s['status']}"
            + (
                "\nFollow it: " + again(args, "strategy logs " + s["name"] + " --follow")
                if args.start
                else "\nStart it: " + again(args, "strategy start " + s["name"])
            )
        )

    _emit(args, strategy, human)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    data = _client(args).request("GET", "/strategies")

    def human(d: dict[str, Any]) -> str:
        rows = d["strategies"]
        if not rows:
            return f"No strategies yet. Deploy one: {again(args, 'strategy deploy DIR --start')}"
        width = max(4, *(len(s["name"]) for s in rows))
        out = [f"{'NAME':<{width}}  {'STATUS':<9} {'RESTARTS':>8}  {'STRATEGY_ID':<36}  LAST EXIT"]
        for s in rows:
            row = f"{s['name']:<{width}}  {s['status']:<9} {s['restart_count']:>8}  {s['strategy_id']}"
            out.append(f"{row}  {_last_exit(s)}")
        return "\n".join(out)

    _emit(args, data, human)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _emit(args, _find(_client(args), args.strategy), _summary)
    return 0


def _action(args: argparse.Namespace, verb: str) -> int:
    client = _client(args)
    strategy = _find(client, args.strategy)
    if verb == "delete":
        question = f"Delete {strategy['name']}: its artifact, runs and logs? This cannot be undone."
        if not confirm(args, question):
            print("Nothing deleted.", file=sys.stderr)
            return 1
        data = client.request("DELETE", f"/strategies/{strategy['strategy_id']}")
        _emit(
            args,
            data,
            lambda d: f"Deleted {strategy['name']} ({d['strategy_id']}): artifact, runs and logs purged.",
        )
        return 0
    data = client.request("POST", f"/strategies/{strategy['strategy_id']}/{verb}")
    _emit(args, data, lambda d: f"{d['name']}: {d['status']}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    return _action(args, "start")


def cmd_stop(args: argparse.Namespace) -> int:
    return _action(args, "stop")


def cmd_delete(args: argparse.Namespace) -> int:
    return _action(args, "delete")


class _Printer:
    """Prints log lines once each: stdout lines to stdout, stderr and runner notes to stderr
    (so ``| jq`` sees only the program's stdout); ``--json`` prints every line as one JSON object."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self.run_id: str | None = None
        self.cursor = 0

    def run(self, run_id: str | None) -> None:
        if run_id != self.run_id:
            if self.run_id is not None and not self.as_json:
                print(f"── run {run_id} ──", file=sys.stderr, flush=True)
            self.run_id, self.cursor = run_id, 0

    def lines(self, run_id: str, lines: list[dict[str, Any]]) -> None:
        self.run(run_id)
        for line in lines:
            if line["seq"] <= self.cursor:
                continue
            self.cursor = line["seq"]
            if self.as_json:
                print(json.dumps({"run_id": run_id, **line}), flush=True)
            elif line["stream"] == "stdout":
                print(line["line"], flush=True)
            else:
                print(line["line"], file=sys.stderr, flush=True)


def _page_all(client: Sequence, strategy_id: str, printer: _Printer, run_id: str | None) -> dict[str, Any]:
    """Print every line after the printer's cursor; returns the last page."""
    while True:
        params = {"run_id": run_id, "after": printer.cursor if run_id == printer.run_id else 0, "limit": 1000}
        page: dict[str, Any] = client.request("GET", f"/strategies/{strategy_id}/logs", params=params)
        if page["run_id"] is None:
            return page
        printer.lines(page["run_id"], page["lines"])
        run_id = page["run_id"]
        if not page["has_more"]:
            return page


def _page_tail(
    client: Sequence, strategy_id: str, printer: _Printer, run_id: str | None, count: int
) -> dict[str, Any]:
    """Print only the last ``count`` lines after the printer's cursor (``-n``); returns the last page."""
    tail: deque[dict[str, Any]] = deque(maxlen=count)
    after = printer.cursor
    while True:
        params = {"run_id": run_id, "after": after, "limit": 1000}
        page: dict[str, Any] = client.request("GET", f"/strategies/{strategy_id}/logs", params=params)
        if page["run_id"] is None:
            return page
        run_id = page["run_id"]
        tail.extend(page["lines"])
        if page["lines"]:
            after = page["lines"][-1]["seq"]
        if not page["has_more"]:
            break
    printer.lines(run_id, list(tail))
    printer.cursor = max(printer.cursor, after)  # -n 0: nothing printed, but follow from the end
    return page


def cmd_logs(args: argparse.Namespace) -> int:
    client = _client(args)
    strategy = _find(client, args.strategy)
    strategy_id = strategy["strategy_id"]
    printer = _Printer(as_json=args.json)
    printer.cursor = args.after
    printer.run_id = args.run_id
    if args.lines is not None:
        page = _page_tail(client, strategy_id, printer, args.run_id, args.lines)
    else:
        page = _page_all(client, strategy_id, printer, args.run_id)
    if not args.follow:
        return 0
    if strategy["status"] == "stopped" and (
        page["run_status"] in FINAL_RUN_STATUSES or page["run_id"] is None
    ):
        print(
            f"{strategy['name']} is stopped: nothing more will come "
            f"({again(args, 'strategy start ' + strategy['name'])}).",
            file=sys.stderr,
        )
        return 0
    try:
        _follow_websocket(client, strategy_id, printer, pinned=args.run_id is not None)
    except WebSocketError:
        _follow_polling(client, strategy_id, printer, pinned=args.run_id is not None)
    return 0


def _follow_websocket(client: Sequence, strategy_id: str, printer: _Printer, *, pinned: bool) -> None:
    """Tail the log websocket until the strategy is stopped or deleted. Raises ``WebSocketError``
    when the socket can't be opened or goes silent: the caller then polls from the same cursor."""
    query: dict[str, Any] = {"follow": "run" if pinned else "latest"}
    if printer.run_id is not None:
        query.update(run_id=printer.run_id, after=printer.cursor)
    url = client.ws_url(f"/strategies/{strategy_id}/logs/stream", query)
    # Origin: the server only accepts websockets from its own hosts (ALLOWED_HOSTS).
    ws = connect(
        url, {"Authorization": f"Bearer {client.api_key}", "Origin": client.base_url}, timeout=client.timeout
    )
    try:
        silences = 0
        while True:
            try:
                message = ws.recv_json(timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                silences += 1
                if silences >= 2:
                    raise WebSocketError("the log websocket went silent") from None
                ws.ping()
                continue
            except WebSocketClosed as closed:
                if closed.code == 4410:  # the strategy was deleted
                    return
                raise
            silences = 0
            kind = message.get("type")
            if kind == "lines":
                printer.lines(message["run_id"], message["lines"])
            elif kind == "run":
                printer.run(message["run_id"])
            elif kind == "error":
                raise SequenceError(int(message.get("status", 400)), str(message.get("message")), "error")
            elif kind == "strategy" and message.get("status") in ("stopped", "deleted"):
                if message["status"] == "stopped":
                    _page_all(client, strategy_id, printer, printer.run_id)  # anything still in flight
                return
    finally:
        ws.close()


def _follow_polling(client: Sequence, strategy_id: str, printer: _Printer, *, pinned: bool) -> None:
    while True:
        page = _page_all(client, strategy_id, printer, printer.run_id)
        if page["run_status"] in FINAL_RUN_STATUSES or page["run_id"] is None:
            if pinned and page["run_id"] is not None:
                return
            latest = client.request("GET", f"/strategies/{strategy_id}/logs", params={"limit": 1})
            if latest["run_id"] is not None and latest["run_id"] != printer.run_id:
                printer.run(latest["run_id"])
                continue
            if client.request("GET", f"/strategies/{strategy_id}")["status"] == "stopped":
                return
        time.sleep(FOLLOW_POLL_SECONDS)


# -- wiring ------------------------------------------------------------------------------------


def add_strategy_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``sequence strategy <subcommand>`` to the CLI's subparsers."""
    strategy = sub.add_parser("strategy", help="hosted Python strategies (deploy, logs, start/stop)")
    add_global_flags(strategy)
    commands = strategy.add_subparsers(dest="strategy_command", metavar="SUBCOMMAND")
    commands.required = True

    deploy = commands.add_parser("deploy", parents=[common], help="upload a folder (reads DIR/Sequence.toml)")
    deploy.add_argument("dir", metavar="DIR", help="the strategy folder")
    deploy.add_argument(
        "--start", action="store_true", help="queue it now, with your current key as its API key"
    )
    deploy.add_argument(
        "--env", action="append", metavar="KEY=VALUE", help="env var on top of [hosted.env] (repeatable)"
    )
    deploy.add_argument(
        "--secrets-file", metavar="FILE", help="JSON object of secret env vars, on top of [hosted.secrets]"
    )
    deploy.add_argument("--manifest", metavar="FILE", help="JSON object replacing the synthesized manifest")
    deploy.add_argument(
        "--memory-mb", type=int, metavar="N", help="memory limit (overrides [hosted] memory_mb)"
    )
    deploy.add_argument(
        "--latency-target", action="append", metavar="V", help="placement hint, e.g. coinbase"
    )
    deploy.add_argument(
        "--name", help="strategy name (overrides [strategy] name; default: the folder's name)"
    )
    deploy.add_argument("--entrypoint", help="file to run (overrides [hosted] entrypoint; default main.py)")
    deploy.set_defaults(func=_guard(cmd_deploy))

    listing = commands.add_parser("list", parents=[common], help="your strategies in this mode")
    listing.set_defaults(func=_guard(cmd_list))
    for verb, func, text in [
        ("status", cmd_status, "inspect one strategy"),
        ("start", cmd_start, "re-queue a stopped or failed strategy"),
        ("stop", cmd_stop, "graceful stop (SIGTERM, then SIGKILL)"),
        ("delete", cmd_delete, "purge the artifact, the strategy, its runs and logs"),
    ]:
        parser = commands.add_parser(verb, parents=[common], help=text)
        parser.add_argument("strategy", metavar="NAME", help="name or strategy_id")
        if verb == "delete":
            parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        parser.set_defaults(func=_guard(func))

    logs = commands.add_parser("logs", parents=[common], help="print (or --follow) a run's output")
    logs.add_argument("strategy", metavar="NAME", help="name or strategy_id")
    logs.add_argument("--run-id", help="a specific run (default: the latest, following restarts)")
    logs.add_argument("--after", type=int, default=0, metavar="SEQ", help="only lines after this cursor")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines as they come")
    logs.add_argument(
        "-n", "--lines", type=line_count, default=None, metavar="N",
        help="only the last N lines of the run first (default: all of them)",
    )  # fmt: skip
    logs.set_defaults(func=_guard(cmd_logs))


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Usage errors found locally exit 2 with a message, like argparse's own."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except CliError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run
