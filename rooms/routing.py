from django.urls import re_path

from rooms.consumers import RoomConsumer

websocket_urlpatterns = [
    re_path(r"^ws/rooms/(?P<room_id>[0-9a-f]{1,24})/$", RoomConsumer.as_asgi()),
]
