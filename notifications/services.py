"""Every write to reminders and notifications goes through here: pages, the API, the rooms
service's go-live hook and the socket."""

import logging
from collections.abc import Iterable

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from liveshop.errors import NotFoundError
from notifications import selectors
from notifications.events import user_events_on_commit
from notifications.exceptions import OwnRoomReminder, RoomNotScheduled
from notifications.models import Notification, RoomReminder
from rooms.models import ShoppingRoom

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


def room_reminder_set(*, user: User, room: ShoppingRoom) -> tuple[RoomReminder, bool]:
    """`user` wants to hear when `room` goes live; setting it again changes nothing. Answers
    the reminder and whether it is new. Only a scheduled show of an active seller, and not
    one's own (the seller is never notified of his own show)."""
    if not room.seller.is_active:
        raise NotFoundError(_("No such room."))
    if room.seller_id == user.pk:
        raise OwnRoomReminder(_("This is your own show: you will be there when it starts."))
    if room.status != ShoppingRoom.Status.SCHEDULED:
        raise RoomNotScheduled(
            _("This show is already live: join it now.")
            if room.is_live
            else _("This show has ended; there is nothing to be reminded of.")
        )
    existing = RoomReminder.objects.filter(user=user, room=room).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return RoomReminder.objects.create(user=user, room=room), True
    except IntegrityError:
        # A simultaneous "Remind me" (a double tap) got there first: that one stands.
        return RoomReminder.objects.get(user=user, room=room), False


def room_reminder_unset(*, user: User, room: ShoppingRoom) -> bool:
    """Cancel the reminder; answers whether there was one. Allowed in any room state, and
    cancelling twice changes nothing."""
    deleted, _by_model = RoomReminder.objects.filter(user=user, room=room).delete()
    return deleted > 0


def _create_ignoring_duplicates(rows: list[Notification]) -> None:
    """Insert rows; a row the unique constraint already holds is skipped, not an error.
    MongoDB's backend cannot ignore conflicts in bulk, so there each row goes alone."""
    if connection.features.supports_ignore_conflicts:
        Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=BATCH_SIZE)
        return
    for row in rows:
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            pass


def notifications_room_live(*, room: ShoppingRoom) -> list[Notification]:
    """Tell everyone who asked (a reminder) or follows the seller that `room` is live: one
    notification each (never two for one show, even if called again), pushed after commit
    to their open pages with their new unread count. Answers the new notifications."""
    room = ShoppingRoom.objects.select_related("seller").get(pk=room.pk)
    if not room.is_live:
        return []  # ended (or never opened) by the time we got here: nothing to join
    recipients = selectors.room_live_recipients(room)
    kind = Notification.Kind.ROOM_LIVE
    with transaction.atomic():
        already = set(
            Notification.objects.filter(
                room=room, kind=kind, user_id__in=list(recipients)
            ).values_list("user_id", flat=True)
        )
        now = timezone.now()
        _create_ignoring_duplicates(
            [
                Notification(
                    user_id=user_id,
                    kind=kind,
                    reason=reason,
                    room=room,
                    seller=room.seller,
                    created_at=now,
                )
                for user_id, reason in recipients.items()
                if user_id not in already
            ]
        )
        created = list(
            selectors.notifications_of_room(room=room, kind=kind).exclude(user_id__in=already)
        )
        counts = selectors.unread_counts(n.user_id for n in created)
        messages = []
        for notification in created:
            messages.append(
                (
                    notification.user_id,
                    {
                        "type": "notification",
                        "notification": selectors.notification_summary(notification),
                    },
                )
            )
            messages.append(
                (
                    notification.user_id,
                    {"type": "unread-count", "count": counts[notification.user_id]},
                )
            )
        user_events_on_commit(messages)
    return created


def notifications_room_live_on_commit(*, room: ShoppingRoom) -> None:
    """The go-live hook (rooms.services.room_go_live): notify once the room's own write has
    committed. A failure here is logged, never raised: the show is live either way."""
    room_id = room.pk

    def notify() -> None:
        try:
            notifications_room_live(room=ShoppingRoom(pk=room_id))
        except Exception:
            logger.exception("could not notify that room %s went live", room_id)

    transaction.on_commit(notify)


def notifications_mark_read(*, user: User, ids: Iterable | None = None, all: bool = False) -> int:
    """Mark the user's own notifications read: those in `ids`, or all of them. Ids of
    someone else's notifications (or unknown ones) are ignored, so nobody learns whether
    they exist. Answers how many changed; the user's open pages get the new unread count."""
    notifications = Notification.objects.filter(user=user, read_at=None)
    if not all:
        ids = list(ids or [])
        if not ids:
            return 0
        notifications = notifications.filter(pk__in=ids)
    with transaction.atomic():
        changed = notifications.update(read_at=timezone.now())
        if changed:
            count = selectors.unread_count(user)
            user_events_on_commit([(user.pk, {"type": "unread-count", "count": count})])
    return changed
