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
