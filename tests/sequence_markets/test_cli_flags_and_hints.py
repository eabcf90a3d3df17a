"""The CLI takes --sandbox/--json anywhere, its hints keep the flags the user gave, a strategy missing
in one mode but present in the other says so, `strategy logs -n`, and `strategy deploy` refuses a
syntax error before uploading anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sequence_markets.cli import build_parser, main
from sequence_markets.cli_strategy import build_artifact
from sequence_site.scope import Scope
from strategies import services
from strategies.models import Strategy, StrategyLog, StrategyRun

SEQUENCE = str(Path(sys.executable).parent / "sequence")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SEQUENCE, *args], env=env, capture_output=True, text=True, timeout=60)


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


@pytest.mark.parametrize(
    "argv",
    [
        ["--sandbox", "--json", "list"],
        ["list", "--sandbox", "--json"],
        ["--sandbox", "list", "--json"],
        ["strategy", "--sandbox", "--json", "list"],
        ["--json", "strategy", "list", "--sandbox"],
        ["deployments", "--sandbox", "--json", "list"],
        ["bundles", "--json", "list", "--sandbox"],
    ],
)
def test_mode_flags_are_taken_before_between_and_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.sandbox is True and args.json is True


def test_no_flag_means_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    # `main` fills in the flags nobody gave; with no key configured the command says so and exits.
    monkeypatch.setenv("SEQUENCE_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("SEQUENCE_API_KEY", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["whoami"])
    assert "no sandbox API key configured" in str(info.value) or "no live API key configured" in str(
        info.value
    )


@pytest.fixture
def both_keys_env(tmp_path, live_server, sandbox_key, live_key) -> dict[str, str]:
    """A CLI logged in with both keys (live the default), as `sequence login` twice leaves it."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(
        json.dumps(
            {
                "url": live_server.url,
                "keys": {"test": sandbox_key.plaintext, "live": live_key.plaintext},
                "default_mode": "live",
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQUENCE_")}
    env["SEQUENCE_CONFIG_DIR"] = str(config_dir)
    return env


@pytest.mark.django_db(transaction=True)
def test_hints_keep_the_flag_and_a_strategy_of_the_other_mode_is_pointed_at(both_keys_env, tmp_path) -> None:
    folder = write(tmp_path / "hinted", {"main.py": "print('hi')"})
    deployed = run("--sandbox", "strategy", "deploy", str(folder), env=both_keys_env)
    assert deployed.returncode == 0, deployed.stderr
    assert "Start it: `sequence strategy start hinted --sandbox`" in deployed.stdout
    # No Sequence.toml: it says the defaults were used.
    assert "no Sequence.toml" in deployed.stderr and "defaults" in deployed.stderr

    # Forgetting --sandbox: the live key finds nothing, and the message says where it is.
    missing = run("strategy", "status", "hinted", env=both_keys_env)
    assert missing.returncode == 1
    assert "No live strategy named 'hinted'. There is a sandbox one: add --sandbox." in missing.stderr
    found = run("strategy", "--sandbox", "status", "hinted", env=both_keys_env)
    assert found.returncode == 0 and "hinted" in found.stdout

    # A name that exists nowhere gets no such hint.
    nowhere = run("--sandbox", "strategy", "status", "nowhere", env=both_keys_env)
    assert nowhere.returncode == 1 and "There is a" not in nowhere.stderr

    empty = run("--sandbox", "list", env=both_keys_env)
    assert empty.returncode == 0 and "`sequence deploy SYMBOL --sandbox`" in empty.stdout


@pytest.mark.django_db(transaction=True)
def test_strategy_logs_n_prints_only_the_last_lines(both_keys_env, owner, tmp_path) -> None:
    scope = Scope(client=owner, is_sandbox=True)
    artifact, _, _ = build_artifact(write(tmp_path / "p", {"main.py": "1"}))
    strategy = services.strategy_deploy(scope=scope, name="chatty", artifact=artifact).strategy
    run_row = StrategyRun.objects.create(strategy=strategy, status="stopped")
    Strategy.objects.filter(pk=strategy.pk).update(current_run=run_row)
    now = datetime.now(tz=UTC)
    StrategyLog.objects.bulk_create(
        [StrategyLog(run=run_row, seq=i, stream="stdout", ts=now, line=f"line {i}") for i in range(1, 1201)]
    )
    result = run("strategy", "logs", "chatty", "-n", "3", "--sandbox", env=both_keys_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["line 1198", "line 1199", "line 1200"]
    everything = run("--sandbox", "strategy", "logs", "chatty", env=both_keys_env)
    assert len(everything.stdout.splitlines()) == 1200


@pytest.mark.django_db(transaction=True)
def test_deploy_refuses_a_syntax_error_with_its_line_and_uploads_nothing(both_keys_env, tmp_path) -> None:
    folder = write(
        tmp_path / "broken",
        {"main.py": "import lib.helpers\nprint('ok')\n", "lib/helpers.py": "x = 1\ndef f(:\n    pass\n"},
    )
    result = run("--sandbox", "strategy", "deploy", str(folder), "--start", env=both_keys_env)
    assert result.returncode == 2
    assert "lib/helpers.py:2" in result.stderr and "nothing was uploaded" in result.stderr
    assert not Strategy.objects.exists()
