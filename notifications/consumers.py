"""The notification socket, `/ws/notifications/` (protocol: docs/realtime.md).

One per open page of a signed-in user. The server speaks, the client listens: on connect it
gets its unread count, then every new notification and every change of the count (marking
read in another tab included). Visitors are refused at the handshake; signing out closes it
(code 4401, liveshop.websocket.SignOutWatch: the sign-out comes through the user's
notification group, so connecting joins no extra group)."""

import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.translation import gettext as _

from liveshop.sockets import ChannelLayerLossCloses
from liveshop.websocket import SignOutWatch
from notifications import selectors
from notifications.events import user_notifications_group

logger = logging.getLogger(__name__)


class NotificationConsumer(ChannelLayerLossCloses, SignOutWatch, AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.user = self.scope["user"]
        self.group = None
        if not self.user.is_authenticated:
            await self.close()  # before accept: daphne answers the upgrade with 403
            return
        self.group = user_notifications_group(self.user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.accepted = True
        self.sign_out_watch()
        count = await database_sync_to_async(selectors.unread_count)(self.user)
        await self.send_event({"type": "unread-count", "count": count})

    async def disconnect(self, code: int) -> None:
        self.sign_out_unwatch()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        # Nothing is read from the client (marking read is an HTTP call); say so rather
        # than stay silent, so a client bug is visible.
        await self.send_event(
            {
                "type": "error",
                "code": "unknown_type",
                "message": _("This socket only sends; use the API to mark notifications read."),
            }
        )

    async def notification_events(self, message: dict) -> None:
        for event in message["events"]:
            await self.send_event(event)

    async def send_event(self, event: dict) -> None:
        await self.send(text_data=json.dumps(event))
