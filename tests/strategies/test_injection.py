"""What a strategy process sees: exactly the documented environment, the manifest file, its own SDK."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from strategy_testing import create_body, lines_of, wait_status

from sequence_site import services as site_services
from sequence_site.models import Mode
from strategies.models import Strategy, StrategyLog, StrategyTransition

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-VALUE-" + "q7" * 10

DUMP = """
import hashlib, json, os, sys
env = dict(os.environ)
for name in ("GCP_CALLBACK_TOKEN", "LOG_LEVEL", "SEQUENCE_API_KEY"):
    if name in env:  # prove the value without printing it
        env[name] = "sha256:" + hashlib.sha256(env[name].encode()).hexdigest()
manifest = json.load(open(os.environ["SEQUENCE_STRATEGY_MANIFEST"]))
try:
    import django
    platform_packages = "importable"
except ImportError:
    platform_packages = "absent"
from sequence_markets import Sequence, SequenceError
print(json.dumps({"env": env, "manifest": manifest, "cwd": os.getcwd(), "django": platform_packages,
                  "sdk": Sequence.__module__, "sys_path": sys.path, "version": sys.version_info[:2],
                  "executable": sys.executable}))
"""


def sha(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def test_environment_secrets_and_manifest_are_injected_exactly(runner, api, owner, sandbox_key, settings):
    settings.SEQUENCE_PUBLIC_API_URL = "http://127.0.0.1:8000"
    manifest = {"PRED_ARB_PAIRS_JSON": [["KXBTC", "0xabc"], ["KXETH", "0xdef"]], "nested": {"depth": 2}}
    body = create_body(
        "injector",
        DUMP,
        sdk=True,
        start=True,
        env={
            "LOG_LEVEL": "debug",
            "GCP_CALLBACK_URL": "https://example.test/cb",
            "GCP_CALLBACK_TOKEN": "plain",
        },
        secrets={"GCP_CALLBACK_TOKEN": SECRET},  # shadows the env value of the same name
        manifest=manifest,
        sequence_api_key=sandbox_key.plaintext,
    )
    status, created = api.post("/v1/strategies", json=body)
    assert status == 201, created
    strategy = wait_status(created["strategy_id"], "stopped", timeout=20)
    run = strategy.current_run
    assert run.exit_code == 0, lines_of(run)
    seen = json.loads(lines_of(run, "stdout")[0])
    env = seen["env"]
    workspace = seen["cwd"]
    assert workspace == "/workspace"  # the sandbox's view of the run folder, as in python:3.12-slim
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workspace,
        "PWD": workspace,  # bwrap --chdir sets it, as a shell would
        "TMPDIR": "/tmp",  # the sandbox's private tmpfs
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": sha("debug"),
        "GCP_CALLBACK_URL": "https://example.test/cb",
        "GCP_CALLBACK_TOKEN": sha(SECRET),  # the secret won over the plain env value
        "SEQUENCE_API_KEY": sha(sandbox_key.plaintext),
        "SEQUENCE_API_URL": "http://127.0.0.1:8000",
        "SEQUENCE_STRATEGY_ID": str(strategy.pk),
        "SEQUENCE_STRATEGY_NAME": "injector",
        "SEQUENCE_RUN_ID": str(run.pk),
        "SEQUENCE_CLIENT_ID": owner.short_code,
        "SEQUENCE_IS_SANDBOX": "true",
        "SEQUENCE_STRATEGY_MANIFEST": f"{workspace}/.sequence/manifest.json",
    }
    assert seen["manifest"] == manifest
    assert seen["django"] == "absent"  # the platform's site-packages are not importable
    assert seen["sdk"] == "sequence_markets.client"  # the vendored SDK, found next to main.py
    assert seen["version"] == [3, 12]
    assert seen["executable"] == "/usr/local/bin/python3.12"
    assert all(entry in ("/workspace", "") or entry.startswith("/usr/local/lib/python3") for entry in seen["sys_path"])


def test_secrets_never_appear_in_api_responses_logs_or_history(runner, api, sandbox_key, caplog):
    caplog.set_level(logging.DEBUG)
    main = "import os\nprint('token length', len(os.environ['TOKEN']))\n"
    responses = []
    status, body = api.post(
        "/v1/strategies",
        json=create_body(
            "secretive", main, secrets={"TOKEN": SECRET}, sequence_api_key=sandbox_key.plaintext, start=True
        ),
    )
    responses.append(body)
    assert status == 201 and body["secret_names"] == ["TOKEN"] and body["has_sequence_api_key"] is True
    strategy_id = body["strategy_id"]
    strategy = wait_status(strategy_id, "stopped", timeout=20)
    assert lines_of(strategy.current_run, "stdout") == [f"token length {len(SECRET)}"]
    for path in ("", f"/{strategy_id}", f"/{strategy_id}/logs"):
        status, body = api.get(f"/v1/strategies{path}")
        assert status == 200
        responses.append(body)
    responses.append(api.post(f"/v1/strategies/{strategy_id}/start")[1])
    responses.append(api.post(f"/v1/strategies/{strategy_id}/stop")[1])

    dumped = json.dumps(responses)
    for needle in (SECRET, sandbox_key.plaintext, "secrets_ciphertext", "sequence_api_key_ciphertext"):
        assert needle not in dumped
    assert "ciphertext" not in dumped and "nonce" not in dumped
    every_line = " ".join(StrategyLog.objects.values_list("line", flat=True))
    every_reason = " ".join(StrategyTransition.objects.values_list("reason", flat=True))
    assert SECRET not in every_line and SECRET not in every_reason
    assert sandbox_key.plaintext not in every_line and sandbox_key.plaintext not in every_reason
    assert SECRET not in caplog.text and sandbox_key.plaintext not in caplog.text
    row = Strategy.objects.get(pk=strategy_id)
    assert SECRET.encode() not in bytes(row.secrets_ciphertext)
    assert sandbox_key.plaintext.encode() not in bytes(row.sequence_api_key_ciphertext)


def test_a_live_strategy_gets_is_sandbox_false(runner, api, owner):
    live = site_services.api_key_create(client=owner, mode=Mode.LIVE, name="live")
    api.key = live.plaintext
    main = "import os\nprint(os.environ['SEQUENCE_IS_SANDBOX'], os.environ.get('SEQUENCE_API_KEY') is None)\n"
    status, body = api.post("/v1/strategies", json=create_body("live-one", main, start=True))
    assert status == 201 and body["mode"] == "live" and body["is_sandbox"] is False
    strategy = wait_status(body["strategy_id"], "stopped", timeout=20)
    # No sequence_api_key was deployed: nothing is injected (the spec's first pitfall).
    assert lines_of(strategy.current_run, "stdout") == ["false True"]
