"""The plain-Channels baseline for bench/room_fanout.py (a benchmark, not part of the product).

Serve it instead of `liveshop.asgi:application`:

    daphne bench.baseline_app:application

It is the product's ASGI app with one extra socket route, `/ws/bench-baseline/<room_id>/`,
written the way the Channels tutorial writes a chat room: one consumer per socket, one
channel-layer group membership per socket, one `group_send` per chat message, and the
message JSON-encoded again in every socket's consumer. Same gatekeeper (Origin, JWT), same
server, same Redis channel layer as the product's room socket, so the two are measured side
by side. It keeps none of the product's room state (no store, no rate limit, no database),
which only flatters the baseline.
"""

import json
import os
import uuid

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils import timezone  # noqa: E402

from liveshop.websocket import SocketGatekeeper  # noqa: E402
from notifications.routing import websocket_urlpatterns as notification_sockets  # noqa: E402
from rooms.routing import websocket_urlpatterns  # noqa: E402

BASELINE_PATH = "ws/bench-baseline/<str:room_id>/"


class BaselineRoomConsumer(AsyncWebsocketConsumer):
    """A chat room, the plain Channels way."""

    async def connect(self) -> None:
        self.group = f"bench-baseline-{self.scope['url_route']['kwargs']['room_id']}"
        self.user = self.scope["user"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=json.dumps({"type": "room-state"}))

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            return
        if not isinstance(frame, dict) or frame.get("type") != "chat-message":
            return
        if not self.user.is_authenticated:
            return
        message = {
            "type": "chat-message",
            "id": uuid.uuid4().hex,
            "user": {
                "id": self.user.pk,
                "username": self.user.username,
                "display_name": self.user.get_full_name() or self.user.username,
            },
            "text": str(frame.get("text", ""))[:500],
            "sent_at": timezone.now().isoformat(),
        }
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "event": message})

    async def chat_message(self, message: dict) -> None:
        # Encoded once per socket: the cost the product is meant to avoid.
        await self.send(text_data=json.dumps(message["event"]))


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SocketGatekeeper(
            URLRouter(
                [
                    path(BASELINE_PATH, BaselineRoomConsumer.as_asgi()),
                    *notification_sockets,
                    *websocket_urlpatterns,
                ]
            )
        ),
    }
)
