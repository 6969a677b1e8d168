"""Small builders shared by the accounts tests: sellers' rooms, deactivated accounts."""

from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from rooms import services as room_services
from rooms.models import ShoppingRoom


def make_room(
    seller: User,
    title: str,
    *,
    starts_in: timedelta = timedelta(hours=1),
    status: str = ShoppingRoom.Status.SCHEDULED,
) -> ShoppingRoom:
    """A room of `seller`, moved to `status` through the room services."""
    room = room_services.room_create(
        seller=seller, title=title, scheduled_start=timezone.now() + starts_in
    )
    if status in {ShoppingRoom.Status.LIVE, ShoppingRoom.Status.ENDED}:
        room = room_services.room_go_live(room=room, actor=seller)
    if status == ShoppingRoom.Status.ENDED:
        room = room_services.room_end(room=room, actor=seller)
    return room


def deactivate(user: User) -> None:
    """What staff do in admin when an account is closed (there is no service for it)."""
    User.objects.filter(pk=user.pk).update(is_active=False)
