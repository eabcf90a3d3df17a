"""The dashboard shell: login, the sandbox/live switch, and the API keys page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from sequence_site import services
from sequence_site.models import ApiKey, Mode


@pytest.fixture
def member(owner):
    user = get_user_model().objects.create_user(username="alice", password="correct horse battery")
    services.client_add_member(client=owner, user=user)
    return user


@pytest.fixture
def logged_in(client, member):
    client.force_login(member)
    return client


def test_login_page_renders(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_pages_require_login(client, db):
    for path in ("/", "/keys/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_login_with_password(client, member):
    response = client.post("/login/", {"username": "alice", "password": "correct horse battery"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_user_without_client_is_told_so(client, db):
    user = get_user_model().objects.create_user(username="bob", password="x" * 12)
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 403
    assert "attached to a client" in response.content.decode()


def test_navigation_lists_only_built_pages(logged_in):
    html = logged_in.get("/").content.decode()
    assert 'href="/keys/"' in html
    nav = re.search(r'<nav class="nav">(.*?)</nav>', html, re.S).group(1)
    assert "API keys" in nav


def test_mode_switch_scopes_key_page(logged_in, owner):
    services.api_key_create(client=owner, mode=Mode.SANDBOX, name="sandbox-one")
    services.api_key_create(client=owner, mode=Mode.LIVE, name="live-one")
    html = logged_in.get("/keys/").content.decode()
    assert "sandbox-one" in html and "live-one" not in html  # sandbox is the default

    response = logged_in.post("/mode/", {"mode": "live", "next": "/keys/"})
    assert response.status_code == 302 and response["Location"] == "/keys/"
    html = logged_in.get("/keys/").content.decode()
    assert "live-one" in html and "sandbox-one" not in html
    assert "Live mode" in html


def test_mode_switch_refuses_offsite_redirect(logged_in):
    response = logged_in.post("/mode/", {"mode": "live", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_create_key_shows_it_once(logged_in, owner, member):
    response = logged_in.post("/keys/", {"name": "laptop"})
    assert response.status_code == 200
    shown = re.search(r"seq_test_[A-Za-z0-9]{44}", response.content.decode()).group(0)
    key = ApiKey.objects.get(client=owner, name="laptop")
    assert key.is_sandbox is True and key.created_by == member
    assert services.api_key_authenticate(token=shown).api_key == key
    # A later visit lists the key by its prefix only.
    assert shown not in logged_in.get("/keys/").content.decode()


def test_revoke_from_dashboard(logged_in, owner, sandbox_key):
    response = logged_in.post(f"/keys/{sandbox_key.api_key.pk}/revoke/")
    assert response.status_code == 302
    sandbox_key.api_key.refresh_from_db()
    assert sandbox_key.api_key.revoked_at is not None


def test_cannot_revoke_another_clients_key(logged_in, stranger_sandbox_key):
    response = logged_in.post(f"/keys/{stranger_sandbox_key.api_key.pk}/revoke/", follow=True)
    assert b"not found" in response.content
    stranger_sandbox_key.api_key.refresh_from_db()
    assert stranger_sandbox_key.api_key.revoked_at is None


def test_revoke_needs_post(logged_in, sandbox_key):
    assert logged_in.get(f"/keys/{sandbox_key.api_key.pk}/revoke/").status_code == 405
