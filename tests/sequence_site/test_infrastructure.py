"""The test run talks to the real services it claims to: PostgreSQL and the Redis channel layer."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection


@pytest.mark.django_db
def test_database_is_postgresql():
    assert connection.vendor == "postgresql"


def test_channel_layer_is_redis_and_round_trips():
    layer = get_channel_layer()
    assert type(layer).__module__.startswith("channels_redis")

    async def round_trip() -> dict:
        channel = await layer.new_channel()
        await layer.group_add("infra-test", channel)
        await layer.group_send("infra-test", {"type": "ping", "n": 7})
        message = await layer.receive(channel)
        await layer.group_discard("infra-test", channel)
        return message

    assert async_to_sync(round_trip)() == {"type": "ping", "n": 7}


def test_a_receive_that_waits_longer_than_one_blocking_read_still_gets_its_message():
    """channels_redis blocks 5 s per read; redis-py 8's default socket timeout was also 5 s, so a
    receive that found nothing for 5 s raised TimeoutError and ended its consumer (an idle websocket
    died). The message here comes after one whole blocking read has come back empty."""
    import asyncio

    layer = get_channel_layer()

    async def late_message() -> dict:
        channel = await layer.new_channel()

        async def send_later() -> None:
            await asyncio.sleep(6)  # longer than channels_redis's 5 s blocking read: the point here
            await layer.send(channel, {"type": "late"})

        sender = asyncio.ensure_future(send_later())
        message = await asyncio.wait_for(layer.receive(channel), 60)
        await sender
        return message

    assert async_to_sync(late_message)() == {"type": "late"}


def test_the_tests_postgresql_role_needs_its_password_and_is_no_superuser(tmp_path):
    """`make test` connects as its own role (scripts/ensure_services.sh): password only, CREATEDB only."""
    import os

    import psycopg

    role = os.environ.get("SEQUENCE_TEST_DB_ROLE", "sequence_test")
    empty = tmp_path / "pgpass"
    empty.write_text("")
    empty.chmod(0o600)
    for password in ("", "wrong-password"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(
                host="127.0.0.1", port=5432, user=role, dbname="postgres", password=password,
                passfile=str(empty), connect_timeout=30,
            )  # fmt: skip
    # With the password libpq finds in ~/.pgpass (written there, never in the repo):
    with psycopg.connect(
        host="127.0.0.1", port=5432, user=role, dbname="postgres", connect_timeout=30
    ) as conn:
        row = conn.execute(
            "select rolsuper, rolcreatedb, rolcreaterole, rolreplication from pg_roles where rolname = current_user"
        ).fetchone()
    assert row == (False, True, False, False)
