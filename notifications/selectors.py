"""Named reads of reminders and notifications, and the one shape a notification takes in the
API and on the socket."""

from collections.abc import Iterable

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _
from rest_framework.fields import DateTimeField

from accounts.models import Follow
from notifications.models import Notification, RoomReminder
from rooms.models import ShoppingRoom
from rooms.selectors import public_id, user_summary


def _signed_in(user) -> bool:
    return bool(getattr(user, "is_authenticated", False))


def reminded_room_ids(user, rooms: Iterable[ShoppingRoom] | None = None) -> set:
    """Ids of the upcoming rooms the user asked to be reminded of (one query; only among
    `rooms` when given). Empty for a visitor who is not signed in."""
    if not _signed_in(user):
        return set()
    reminders = RoomReminder.objects.filter(user=user)
    if rooms is None:
        # Reminders of past shows stay (they say why a notification came) but need no button.
        reminders = reminders.filter(room__status=ShoppingRoom.Status.SCHEDULED)
    else:
        ids = [room.pk for room in rooms]
        if not ids:
            return set()
        reminders = reminders.filter(room_id__in=ids)
    return set(reminders.values_list("room_id", flat=True))


def reminder_is_set(*, user, room: ShoppingRoom) -> bool:
    return _signed_in(user) and RoomReminder.objects.filter(user=user, room=room).exists()


def room_live_recipients(room: ShoppingRoom) -> dict:
    """Who hears that `room` went live, and why: {user_id: Notification.Reason}. Users who
    set a reminder and followers of the seller, each once (a reminder says more than a
    follow, so it wins); never the seller, never a deactivated account."""
    recipients = {
        user_id: Notification.Reason.FOLLOWING
        for user_id in Follow.objects.filter(
            seller_id=room.seller_id, follower__is_active=True
        ).values_list("follower_id", flat=True)
    }
    for user_id in RoomReminder.objects.filter(room=room, user__is_active=True).values_list(
        "user_id", flat=True
    ):
        recipients[user_id] = Notification.Reason.REMINDER
    recipients.pop(room.seller_id, None)
    return recipients


def notifications_of(user, *, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's notifications, newest first, with what their text needs."""
    if not _signed_in(user):
        return Notification.objects.none()
    notifications = Notification.objects.filter(user=user).select_related("room", "seller")
    if unread_only:
        notifications = notifications.filter(read_at=None)
    return notifications.order_by("-created_at", "-pk")


def unread_count(user) -> int:
    if not _signed_in(user):
        return 0
    return Notification.objects.filter(user=user, read_at=None).count()


def unread_counts(user_ids: Iterable) -> dict:
    """{user_id: unread notifications} for many users in one query (0s included)."""
    user_ids = list(user_ids)
    counts = dict.fromkeys(user_ids, 0)
    rows = (
        Notification.objects.filter(user_id__in=user_ids, read_at=None)
        .values("user_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts.update({row["user_id"]: row["n"] for row in rows})
    return counts


def _seller_name(notification: Notification) -> str:
    seller = notification.seller
    if seller is None:
        return _("A seller")
    return seller.shop_name or seller.public_name


def _when(value) -> str:
    return DateTimeField().to_representation(value)


def notification_summary(notification: Notification) -> dict:
    """A notification as the API lists it and the socket pushes it (docs/api.md)."""
    room = notification.room
    title = text = ""
    if notification.kind == Notification.Kind.ROOM_LIVE:
        title = _("%(seller)s is live") % {"seller": _seller_name(notification)}
        text = (
            _("“%(title)s” has started. You asked to be reminded.")
            if notification.reason == Notification.Reason.REMINDER
            else _("“%(title)s” has started. You follow this seller.")
        ) % {"title": room.title if room else ""}
    return {
        "id": public_id(notification.pk),
        "kind": notification.kind,
        "reason": notification.reason,
        "title": title,
        "text": text,
        "url": room.get_absolute_url() if room else None,
        "room": (
            {"id": public_id(room.pk), "title": room.title, "status": room.status} if room else None
        ),
        "seller": user_summary(notification.seller) if notification.seller else None,
        # Written as every other API date is (DRF's format, "Z" for UTC).
        "created_at": _when(notification.created_at),
        "read_at": _when(notification.read_at) if notification.read_at else None,
        "is_read": notification.is_read,
    }


def notifications_of_room(*, room: ShoppingRoom, kind: str) -> QuerySet[Notification]:
    """Every user's notification of one kind about one room (what a go-live produced)."""
    return Notification.objects.filter(room=room, kind=kind).select_related("room", "seller")
