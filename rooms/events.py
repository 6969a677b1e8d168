"""Sending room events to sockets. Services call `room_event_on_commit` so that a write that
rolls back never reaches a viewer (DESIGN.md: broadcast after commit)."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


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
    """Deliver `event` (a client-facing message) to every socket of `group`."""
    await get_channel_layer().group_send(group, {"type": "room.event", "event": event})


def room_event_on_commit(group: str, event: dict, *, before=None) -> None:
    """Send after the surrounding transaction commits. `before` is an optional coroutine
    function run first (e.g. a room-store update the event depends on)."""

    async def deliver() -> None:
        if before is not None:
            await before()
        await room_event_send(group, event)

    transaction.on_commit(async_to_sync(deliver))
