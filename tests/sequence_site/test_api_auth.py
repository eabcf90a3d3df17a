"""Every way a bearer key can be wrong gets a 401 with the API's one JSON error shape."""

from __future__ import annotations

import pytest

from sequence_site import services


def assert_401(status, body, message_part: str) -> None:
    assert status == 401
    assert body["error"] == "unauthorized"
    assert body["status"] == 401
    assert message_part in body["message"]


def test_health_needs_no_key_and_checks_database_and_redis(anon_api, db):
    status, body = anon_api.get("/v1/health")
    assert status == 200
    assert body["ok"] is True
    assert body["checks"] == {"database": "ok", "redis": "ok"}


def test_me_with_sandbox_key(api, owner, sandbox_key):
    status, body = api.get("/v1/keys/me")
    assert status == 200
    assert body["client"] == {"name": owner.name, "client_id": owner.short_code}
    assert body["mode"] == "test"
    assert body["is_sandbox"] is True
    assert body["key"]["name"] == "owner sandbox"
    assert body["key"]["prefix"].startswith("seq_test_")
    assert sandbox_key.plaintext not in str(body)


def test_me_with_live_key(api, live_key):
    status, body = api.get("/v1/keys/me", key=live_key.plaintext)
    assert status == 200
    assert body["mode"] == "live"
    assert body["is_sandbox"] is False


def test_missing_header(anon_api):
    status, body = anon_api.get("/v1/keys/me")
    assert_401(status, body, "Missing Authorization header")


def test_www_authenticate_header_on_401(client):
    response = client.get("/v1/keys/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "Token seq_test_x", "seq_test_abc"])
def test_wrong_scheme(anon_api, header):
    status, body = anon_api.get("/v1/keys/me", headers={"Authorization": header})
    assert_401(status, body, "Bearer <your API key>")


@pytest.mark.parametrize(
    "token",
    [
        "seq_prod_" + "a" * 44,  # unknown mode prefix
        "seq_test_" + "a" * 10,  # too short
        "seq_test_" + "a" * 43 + "!",  # bad character
        "sk_live_" + "a" * 44,
        "seq_test_" + "a" * 45,  # too long
    ],
)
def test_malformed_key(anon_api, token):
    status, body = anon_api.get("/v1/keys/me", key=token)
    assert_401(status, body, "Malformed API key")


def test_unknown_key(anon_api, sandbox_key):
    # Right shape, right lookup id, wrong secret: the key is unknown.
    forged = sandbox_key.plaintext[:-1] + ("A" if sandbox_key.plaintext[-1] != "A" else "B")
    status, body = anon_api.get("/v1/keys/me", key=forged)
    assert_401(status, body, "Unknown API key")


def test_unknown_lookup_id(anon_api, db):
    status, body = anon_api.get("/v1/keys/me", key="seq_test_" + "Z" * 44)
    assert_401(status, body, "Unknown API key")


def test_mode_prefix_cannot_be_swapped(anon_api, sandbox_key):
    # Same random part with the live prefix is not the live twin of the key: it's unknown.
    swapped = sandbox_key.plaintext.replace("seq_test_", "seq_live_", 1)
    status, body = anon_api.get("/v1/keys/me", key=swapped)
    assert_401(status, body, "Unknown API key")


def test_revoked_key_stops_working_at_once(api, sandbox_key):
    assert api.get("/v1/keys/me")[0] == 200
    services.api_key_revoke(api_key=sandbox_key.api_key)
    status, body = api.get("/v1/keys/me")
    assert_401(status, body, "revoked")


def test_unknown_v1_path_answers_json_404(api):
    status, body = api.get("/v1/definitely-not-here")
    assert status == 404
    assert body == {
        "error": "not_found",
        "message": "No endpoint GET /v1/definitely-not-here.",
        "status": 404,
    }


def test_openapi_docs_served(client):
    assert client.get("/v1/docs").status_code == 200
    schema = client.get("/v1/openapi.json").json()
    assert "/v1/keys/me" in schema["paths"]
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"


def test_health_reports_redis_down_as_503(anon_api, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    status, body = anon_api.get("/v1/health")
    assert status == 503
    assert body["ok"] is False and body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")
