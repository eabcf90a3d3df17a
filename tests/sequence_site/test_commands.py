from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from sequence_site import services
from sequence_site.models import ApiKey, Client


@pytest.mark.django_db
def test_create_api_key_creates_client_and_prints_key_once():
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "--client", "Quant Co", "--mode", "live", stdout=out, stderr=err)
    plaintext = out.getvalue().strip()
    assert plaintext.startswith("seq_live_")
    client = Client.objects.get(name="Quant Co")
    scope = services.api_key_authenticate(token=plaintext)
    assert scope.client == client and scope.is_sandbox is False
    assert plaintext not in err.getvalue()

    call_command("create_api_key", "--client", "Quant Co", "--mode", "test", stdout=io.StringIO())
    assert Client.objects.filter(name="Quant Co").count() == 1
    assert ApiKey.objects.filter(client=client).count() == 2


@pytest.mark.django_db
def test_create_api_key_rejects_bad_mode():
    with pytest.raises(CommandError):
        call_command("create_api_key", "--client", "x", "--mode", "prod")


@pytest.mark.django_db
def test_seed_dev_prints_working_keys_and_keeps_them(settings, tmp_path):
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("seed_dev", stdout=out)
    text = out.getvalue()
    sandbox = next(line.split(": ")[1] for line in text.splitlines() if "sandbox API key" in line)
    live = next(line.split(": ")[1] for line in text.splitlines() if "live API key" in line)
    assert services.api_key_authenticate(token=sandbox).is_sandbox is True
    assert services.api_key_authenticate(token=live).is_sandbox is False
    assert (tmp_path / "demo-keys.env").stat().st_mode & 0o077 == 0

    again = io.StringIO()
    call_command("seed_dev", stdout=again)
    assert sandbox in again.getvalue() and live in again.getvalue()
    assert ApiKey.objects.filter(client__name="demo").count() == 2


@pytest.mark.django_db
def test_seed_dev_refuses_without_debug(settings, tmp_path):
    settings.DEBUG = False
    settings.VAR_DIR = tmp_path
    call_command("seed_dev", stdout=io.StringIO(), stderr=io.StringIO())
    assert not Client.objects.filter(name="demo").exists()
