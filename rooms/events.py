"""Sending room events to sockets. Services call `room_event_on_commit` so that a write that
rolls back never reaches a viewer (DESIGN.md: broadcast after commit). Delivery is the room
hub's (rooms/hub.py): encoded here once, written as is to every socket of the group."""

import asyncio
import json
import logging

from asgiref.sync import async_to_sync
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Tasks that must outlive what started them (chat persistence, announcements, the hub's
# chat ticks and closes): a task with no reference may be garbage-collected mid-way.
background_tasks: set[asyncio.Task] = set()


def run_in_background(coroutine) -> None:
    task = asyncio.ensure_future(coroutine)
    background_tasks.add(task)
    task.add_done_callback(_background_done)


def _background_done(task: asyncio.Task) -> None:
    background_tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("room background task failed", exc_info=task.exception())


def room_group(room_id) -> str:
    """Every socket in the room."""
    return f"room-{room_id}"


def room_staff_group(room_id) -> str:
    """The seller's and moderators' sockets (presence, queue overview)."""
    return f"room-{room_id}-staff"


def room_user_group(room_id, user_id) -> str:
    """All sockets of one signed-in user in one room (queue place, ban)."""
    return f"room-{room_id}-user-{user_id}"


async def room_event_send(group: str, event: dict) -> None:
    """Deliver `event` (a client-facing message) to every socket of `group`, on every server
    process. Kinds starting with "_" are the server's own (e.g. "_kick"), never shown as such."""
    from rooms.hub import get_hub  # the hub names groups with this module's functions

    await get_hub().publish(group, event["type"], json.dumps(event, separators=(",", ":")))


def room_event_on_commit(group: str, event: dict, *, before=None) -> None:
    """Send after the surrounding transaction commits. `before` is an optional coroutine
    function run first (e.g. a room-store update the event depends on)."""

    async def deliver() -> None:
        try:
            if before is not None:
                await before()
            await room_event_send(group, event)
        except (RedisError, OSError):
            # The write is committed and stays; only its broadcast is lost. Redis being away,
            # the room hub has closed its sockets (1012): they resync when they come back.
            logger.warning("room event %s not sent: Redis unavailable", event["type"])

    transaction.on_commit(async_to_sync(deliver))
