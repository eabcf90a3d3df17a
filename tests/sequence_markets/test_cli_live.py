"""`sequence connect | connections | disconnect | limits` against a real server and the strict fake
venues: prompting on a real terminal without echo, --from-file, the venue's refusal in its own
words, exit codes, and the secret in no output and no server log line."""

from __future__ import annotations

import json
import logging
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.trading.live_venues import VENUE_NAMES, FakeVenue, closed_port_url, fake_venue
from trading.models import RiskLimit, VenueCredential

SEQUENCE = str(Path(sys.executable).parent / "sequence")
CEILING_S = 30.0
PROMPT = b"(hidden; @PATH reads a file): "

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cli_env(tmp_path, live_server, live_key) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQUENCE_")}
    env["SEQUENCE_CONFIG_DIR"] = str(tmp_path / "config")
    env["SEQUENCE_API_URL"] = live_server.url
    env["SEQUENCE_API_KEY"] = live_key.plaintext
    return env


@pytest.fixture
def logs(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # the live server runs in this process: its log lines land here
    return caplog


def use(fake: FakeVenue, settings) -> FakeVenue:
    for name, value in fake.settings.items():
        setattr(settings, name, value)
    return fake


@pytest.fixture(params=VENUE_NAMES)
def venue(request, settings) -> Iterator[FakeVenue]:
    with fake_venue(request.param) as fake:
        yield use(fake, settings)


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEQUENCE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=CEILING_S
    )


def on_terminal(args: list[str], env: dict[str, str], answers: list[str]) -> tuple[int, str]:
    """Run the CLI on a real pseudo-terminal (its controlling tty, as getpass wants) and type each
    answer when a hidden prompt appears. Returns (exit code, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once (the parent has threads; nothing else is safe here)
        os.execve(SEQUENCE, [SEQUENCE, *args], env)  # noqa: S606 (the CLI itself, no shell)
    shown = b""
    typed = 0
    deadline = time.monotonic() + CEILING_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            while shown.count(PROMPT) > typed and typed < len(answers):
                os.write(fd, answers[typed].encode() + b"\n")
                typed += 1
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def assert_nowhere(fake: FakeVenue, *texts: str) -> None:
    for secret in fake.secrets():
        for text in texts:
            assert secret not in text


def test_connect_from_file_list_and_disconnect(venue, cli_env, tmp_path, owner, logs):
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps(venue.good))
    result = run("connect", venue.name, "--from-file", str(creds), "--label", "desk", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Connected {venue.name} (desk): credentials verified with the venue")
    assert "stored sealed" in result.stdout
    assert VenueCredential.objects.filter(client=owner, venue=venue.name, label="desk").exists()

    listed = run("connections", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.strip().splitlines()
    assert header.split()[:2] == ["VENUE", "LABEL"] and row.split()[:2] == [venue.name, "desk"]
    as_json = json.loads(run("connections", "--json", env=cli_env).stdout)
    assert [c["venue"] for c in as_json["connections"]] == [venue.name]

    gone = run("disconnect", venue.name, env=cli_env)
    assert (
        gone.returncode == 0
        and gone.stdout.strip() == f"Disconnected {venue.name}: its credentials are deleted."
    )
    assert not VenueCredential.objects.exists()
    again = run("disconnect", venue.name, env=cli_env)
    assert (
        again.returncode == 1 and again.stderr.strip() == f"error: no {venue.name} connection for this client"
    )
    empty = run("connections", env=cli_env)
    assert empty.stdout.strip() == "No venue connected. Connect one with `sequence connect <venue>`."
    outputs = [r.stdout + r.stderr for r in (result, listed, gone, again, empty)]
    assert_nowhere(venue, *outputs, json.dumps(as_json), logs.text)


def test_bad_credentials_exit_1_with_the_venues_words_and_store_nothing(venue, cli_env, logs):
    result = run("connect", venue.name, "--from-file", "-", env=cli_env, stdin=json.dumps(venue.bad))
    assert result.returncode == 1 and result.stdout == ""
    message = result.stderr.strip()
    assert message.startswith(f"error: {venue.name} refused these credentials: the credentials are wrong")
    assert venue.refusal in message and message.endswith("Nothing was stored.")
    assert not VenueCredential.objects.exists()

    as_json = run(
        "connect", venue.name, "--from-file", "-", "--json", env=cli_env, stdin=json.dumps(venue.bad)
    )
    assert as_json.returncode == 1
    err = json.loads(as_json.stderr)
    assert err["error"] == "venue_auth_failed" and err["status"] == 422 and venue.refusal in err["message"]
    assert_nowhere(venue, result.stdout, result.stderr, as_json.stderr, logs.text)


def test_prompting_without_echo_on_a_terminal(venue, cli_env, tmp_path, owner, logs):
    """Every field is typed at a hidden prompt; a PEM (several lines) is given as @PATH."""
    answers, typed = [], []
    for name, value in venue.good.items():
        if "\n" in value.strip():
            path = tmp_path / f"{name}.pem"
            path.write_text(value)
            answers.append(f"@{path}")
        else:
            answers.append(value)
            typed.append(value)
    code, shown = on_terminal(["connect", venue.name], cli_env, answers)
    assert code == 0, shown
    assert shown.count(PROMPT.decode()) == len(venue.good)
    for name in venue.good:
        assert f"{name} (hidden; @PATH reads a file)" in shown
    assert f"Connected {venue.name}: credentials verified with the venue" in shown
    for answer in answers:  # the terminal never echoed what was typed
        assert answer not in shown
    assert VenueCredential.objects.filter(client=owner, venue=venue.name).exists()
    assert_nowhere(venue, shown, logs.text)


def test_bad_credentials_typed_at_the_prompt(cli_env, settings, logs):
    with fake_venue("kraken") as kraken:
        use(kraken, settings)
        code, shown = on_terminal(
            ["connect", "kraken"], cli_env, [kraken.bad["api_key"], kraken.bad["api_secret"]]
        )
        assert code == 1
        assert "error: kraken refused these credentials" in shown and "EAPI:Invalid signature" in shown
        assert_nowhere(kraken, shown, logs.text)
    assert not VenueCredential.objects.exists()


def test_unreachable_venue_and_local_mistakes(cli_env, settings, tmp_path):
    with fake_venue("kraken") as kraken:
        use(kraken, settings)
        settings.VENUE_ORDERS_KRAKEN_REST_URL = closed_port_url()
        result = run("connect", "kraken", "--from-file", "-", env=cli_env, stdin=json.dumps(kraken.good))
        assert result.returncode == 1
        assert result.stderr.startswith("error: kraken could not be reached to check the credentials")
        assert "nothing was stored" in result.stderr
        assert_nowhere(kraken, result.stderr)

        # no terminal and no --from-file: told what to do, nothing sent
        piped = run("connect", "kraken", env=cli_env, stdin="")
        assert piped.returncode == 1 and "use --from-file FILE" in piped.stderr
        missing = run("connect", "kraken", "--from-file", str(tmp_path / "nope.json"), env=cli_env)
        assert missing.returncode == 1 and "cannot read" in missing.stderr
        (tmp_path / "bad.json").write_text("api_key=x")
        not_json = run("connect", "kraken", "--from-file", str(tmp_path / "bad.json"), env=cli_env)
        assert not_json.returncode == 1 and "is not a JSON object of api_key, api_secret" in not_json.stderr
        short = run("connect", "kraken", "--from-file", "-", env=cli_env, stdin='{"api_key": "k"}')
        assert short.returncode == 1 and "missing credential fields for kraken: api_secret" in short.stderr
        unknown = run("connect", "binance", "--from-file", "-", env=cli_env, stdin="{}")
        assert unknown.returncode == 1 and "unknown venue 'binance'; known: kraken" in unknown.stderr
        usage = run("connect", env=cli_env)
        assert usage.returncode == 2 and "venue" in usage.stderr
    assert not VenueCredential.objects.exists()


def test_a_sandbox_key_is_told_it_needs_a_live_key(cli_env, sandbox_key):
    env = {**cli_env, "SEQUENCE_API_KEY": sandbox_key.plaintext}
    result = run("connect", "kraken", "--from-file", "-", env=env, stdin="{}")
    assert result.returncode == 1
    assert result.stderr.startswith("error: connecting a venue needs a live (seq_live_) key")
    for args in (["connections"], ["disconnect", "kraken"], ["limits", "kraken"]):
        out = run(*args, env=env)
        assert out.returncode == 1 and "needs a live (seq_live_) key" in out.stderr, args


def test_limits_show_set_and_reset(cli_env, owner):
    shown = run("limits", "kraken", env=cli_env)
    assert shown.returncode == 0
    assert "max_open_orders        20  (default)" in shown.stdout
    changed = run(
        "limits", "kraken", "--set", "max_open_orders=3", "--set", "daily_loss_limit=75", env=cli_env
    )
    assert changed.returncode == 0, changed.stderr
    assert (
        "max_open_orders        3\n" in changed.stdout and "daily_loss_limit       75.00\n" in changed.stdout
    )
    row = RiskLimit.objects.get(client=owner, venue="kraken")
    assert row.max_open_orders == 3 and str(row.daily_loss_limit) == "75.00"
    reset = run("limits", "kraken", "--set", "max_open_orders=default", env=cli_env)
    assert "max_open_orders        20  (default)" in reset.stdout
    bad = run("limits", "kraken", "--set", "max_open_orders=-1", env=cli_env)
    assert (
        bad.returncode == 1 and "max_open_orders must be a whole number between 0 and 1000000" in bad.stderr
    )
    wrong = run("limits", "kraken", "--set", "speed=9", env=cli_env)
    assert wrong.returncode == 1 and "--set takes RULE=VALUE" in wrong.stderr
