"""The notification socket, `/ws/notifications/` (protocol: docs/realtime.md).

One per open page of a signed-in user. The server speaks, the client listens: on connect it
gets its unread count, then every new notification and every change of the count (marking
read in another tab included). Visitors are refused at the handshake; signing out closes it
(code 4401, liveshop.websocket.SignOutWatch: the sign-out comes through the user's
notification group, so connecting joins no extra group). The one frame it reads is
`renew-token`, an app's fresh access token (SignOutWatch.renew_token)."""

import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.translation import gettext as _

from liveshop.sockets import ChannelLayerLossCloses
from liveshop.websocket import SignOutWatch, TokenRenewalRefused
from notifications import selectors
from notifications.events import user_notifications_group

logger = logging.getLogger(__name__)

# Longer frames are not parsed (a renew-token frame is a few hundred bytes); like any frame
# that is not renew-token, they get `unknown_type`.
MAX_FRAME_CHARS = 16 * 1024


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
        count = await database_sync_to_async(selectors.unread_count)(self.user)
        await self.send_event({"type": "unread-count", "count": count})
        self.sign_out_watch()  # after it, so that `unread-count` stays the first message

    async def disconnect(self, code: int) -> None:
        self.sign_out_unwatch()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        frame = _renew_token_frame(text_data)
        if frame is None:
            # Nothing else is read from the client (marking read is an HTTP call); say so
            # rather than stay silent, so a client bug is visible.
            await self.send_error(
                "unknown_type",
                _("This socket only takes renew-token; use the API to mark notifications read."),
            )
            return
        try:
            await self.renew_token(frame)  # answers `token-renewed` itself
        except TokenRenewalRefused as refusal:
            await self.send_error(refusal.code, refusal.message)
        except Exception:
            # A bug (or the database away) must cost this frame, not the socket.
            logger.exception("notification socket renew-token failed")
            await self.send_error("server_error", _("Something went wrong; please try again."))

    async def notification_events(self, message: dict) -> None:
        for event in message["events"]:
            await self.send_event(event)

    async def send_event(self, event: dict) -> None:
        await self.send(text_data=json.dumps(event))

    async def send_error(self, code: str, message: str) -> None:
        await self.send_event({"type": "error", "code": code, "message": message})


def _renew_token_frame(text_data: str | None) -> dict | None:
    """The frame when it is a JSON object of type `renew-token`, else None."""
    if text_data is None or len(text_data) > MAX_FRAME_CHARS:
        return None
    try:
        frame = json.loads(text_data)
    except (ValueError, RecursionError):
        return None
    if isinstance(frame, dict) and frame.get("type") == "renew-token":
        return frame
    return None
