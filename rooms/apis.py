# Placeholder: the rooms API is being written.
from rest_framework import viewsets

from rooms.models import ShoppingRoom


class RoomViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = ShoppingRoom.objects.none()
