from django.urls import re_path

from liveshop.converters import PrimaryKeyConverter
from rooms.consumers import RoomConsumer, UnknownSocket

websocket_urlpatterns = [
    # Only ids the configured database can hold: anything else is refused at the handshake.
    re_path(rf"^ws/rooms/(?P<room_id>{PrimaryKeyConverter.regex})/$", RoomConsumer.as_asgi()),
    # Any other socket path is refused cleanly (403), not with a routing exception.
    re_path(r"", UnknownSocket.as_asgi()),
]
