"""Sending to a user's notification sockets (`/ws/notifications/`). Services send after
commit, so a write that rolls back never shows a toast (DESIGN.md: broadcast after commit)."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_notifications_group(user_id) -> str:
    """Every notification socket of one user (all their tabs and devices)."""
    return f"notifications-user-{user_id}"


async def user_events_send(messages: list[tuple[object, list[dict]]]) -> None:
    """Deliver each (user_id, client-facing messages) to that user's sockets: one
    channel-layer send per user, however many frames it carries."""
    layer = get_channel_layer()
    for user_id, events in messages:
        await layer.group_send(
            user_notifications_group(user_id), {"type": "notification.events", "events": events}
        )


def user_events_on_commit(messages: list[tuple[object, list[dict]]]) -> None:
    """Send after the surrounding transaction commits (at once outside one)."""
    if messages:
        transaction.on_commit(lambda: async_to_sync(user_events_send)(messages))
