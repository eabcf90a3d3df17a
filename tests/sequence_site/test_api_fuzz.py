"""A property-based fuzz of the whole REST API from its own OpenAPI schema (schemathesis), against a
real daphne on the test database: no request may get a 5xx, and every answer must match what the
schema documents (status code, content type, body). Bounded: a fixed seed and 10 examples per
operation and phase (about 1,300 requests, under a minute on a quiet machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sequence_site import services
from sequence_site.models import Mode
from tests.browser.conftest import _subprocess_connections_gone, live_server_process  # noqa: F401

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", [Mode.SANDBOX, Mode.LIVE])
def test_no_request_breaks_the_server_or_the_schema(live_server_process, mode, tmp_path: Path) -> None:  # noqa: F811
    client = services.client_get_or_create(name=f"Fuzz {mode}")
    key = services.api_key_create(client=client, mode=mode, name="fuzz").plaintext
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(schemathesis), "run", f"{live_server_process.url}/v1/openapi.json",
         "--header", f"Authorization: Bearer {key}", "--checks", CHECKS,
         "--max-examples", "10", "--seed", "1", "--workers", "1", "--no-color",
         "--request-timeout", "60", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=840, cwd=tmp_path,  # its caches stay out of the repo
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "API Operations:" in output and " passed" in output, output[-3000:]
