"""The `sequence` command-line tool. Every command talks to the REST API through the SDK client.

Exit codes: 0 success, 1 the API refused (the message says why), 2 usage error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence as Seq

from sequence_markets import __version__
from sequence_markets.cli_algo import add_algo_commands
from sequence_markets.cli_backtest import add_backtest_commands
from sequence_markets.cli_common import GLOBAL_FLAGS, add_global_flags, api_client
from sequence_markets.cli_common import emit as _emit
from sequence_markets.cli_live import add_live_commands
from sequence_markets.cli_strategy import add_strategy_commands
from sequence_markets.client import Sequence, SequenceError
from sequence_markets.config import Config, key_mode


def _client(args: argparse.Namespace) -> Sequence:
    return api_client(args, timeout=10.0)


def cmd_login(args: argparse.Namespace) -> int:
    config = Config.load()
    url = args.url or (input(f"API URL [{config.url}]: ").strip() if sys.stdin.isatty() else "") or config.url
    api_key = args.api_key or (
        getpass.getpass("API key (seq_live_... or seq_test_...): ").strip() if sys.stdin.isatty() else ""
    )
    mode = key_mode(api_key)
    if mode is None:
        print(
            "error: an API key starts with seq_live_ or seq_test_ (create one on the API keys page).",
            file=sys.stderr,
        )
        return 2
    if args.sandbox and mode != "test":
        print("error: --sandbox needs a seq_test_ key.", file=sys.stderr)
        return 2
    try:
        me = Sequence(api_key, url).whoami()
    except SequenceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    config.url = url.rstrip("/")
    config.keys[mode] = api_key
    config.default_mode = mode
    path = config.save()
    label = "sandbox" if mode == "test" else "live"
    print(f"Logged in to {config.url} as {me['client']['name']} ({label}). Saved to {path}.")
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    me = _client(args).whoami()
    _emit(
        args,
        me,
        lambda d: (
            f"{d['client']['name']} ({d['client']['client_id']}) · "
            f"{'sandbox' if d['is_sandbox'] else 'LIVE'} · key {d['key']['prefix']}"
        ),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_global_flags(common)

    parser = argparse.ArgumentParser(
        prog="sequence", description="Deploy and watch algos and strategies on Sequence."
    )
    parser.add_argument("--version", action="version", version=f"sequence {__version__}")
    add_global_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    login = sub.add_parser("login", parents=[common], help="store the API URL and a key")
    login.add_argument("--url", help="API base URL, e.g. http://127.0.0.1:8000")
    login.add_argument("--api-key", help="seq_live_... or seq_test_... (prompted when omitted)")
    login.set_defaults(func=cmd_login)

    whoami = sub.add_parser("whoami", parents=[common], help="which client and mode your key acts as")
    whoami.set_defaults(func=cmd_whoami)

    add_algo_commands(sub, common)
    add_backtest_commands(sub, common)
    add_strategy_commands(sub, common)
    add_live_commands(sub, common)
    return parser


def main(argv: Seq[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for flag in GLOBAL_FLAGS:  # given nowhere on the command line: off
        if not hasattr(args, flag):
            setattr(args, flag, False)
    try:
        return int(args.func(args))
    except SequenceError as exc:
        if args.json:
            print(
                json.dumps({"error": exc.code, "message": exc.message, "status": exc.status}), file=sys.stderr
            )
        else:
            print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
