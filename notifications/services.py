"""Every write to reminders and notifications goes through here: pages, the API, the rooms
service's go-live hook and the socket."""

import logging
from collections.abc import Iterable

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from liveshop.background import run_after_commit
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
    # get_or_create survives a simultaneous "Remind me" (a double tap): the first one stands.
    return RoomReminder.objects.get_or_create(user=user, room=room)


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


def notifications_room_live(*, room: ShoppingRoom) -> int:
    """Tell everyone who asked (a reminder) or follows the seller that `room` is live: one
    notification each (never two for one show, so running it again only finishes what a
    crash interrupted), pushed to their open pages with their new unread count. Works in
    batches of BATCH_SIZE users, each in its own transaction, so a show with 100,000
    followers never holds one huge transaction nor one query with 100,000 ids. Answers how
    many notifications it made."""
    room = ShoppingRoom.objects.select_related("seller").get(pk=room.pk)
    if not room.is_live:
        return 0  # ended (or never opened) by the time we got here: nothing to join
    recipients = selectors.room_live_recipients(room)
    user_ids = sorted(recipients)
    made = 0
    for start in range(0, len(user_ids), BATCH_SIZE):
        batch = {user_id: recipients[user_id] for user_id in user_ids[start : start + BATCH_SIZE]}
        made += _notify_batch(room, batch)
    return made


def _notify_batch(room: ShoppingRoom, recipients: dict) -> int:
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
        new_ids = [user_id for user_id in recipients if user_id not in already]
        created = list(
            selectors.notifications_of_room(room=room, kind=kind).filter(user_id__in=new_ids)
        )
        counts = selectors.unread_counts(n.user_id for n in created)
        user_events_on_commit(
            [
                (
                    notification.user_id,
                    [
                        {
                            "type": "notification",
                            "notification": selectors.notification_summary(notification),
                        },
                        {"type": "unread-count", "count": counts[notification.user_id]},
                    ],
                )
                for notification in created
            ]
        )
    return len(created)


def notifications_room_live_on_commit(*, room: ShoppingRoom) -> None:
    """The go-live hook (rooms.services.room_go_live): notify in the background once the
    room's own write has committed (liveshop.background), so going live answers at once
    however many followers the seller has. A failure is logged: the show is live either way."""
    room_id = room.pk
    run_after_commit(
        lambda: notifications_room_live(room=ShoppingRoom(pk=room_id)),
        name=f"notify that room {room_id} is live",
    )


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
            user_events_on_commit([(user.pk, [{"type": "unread-count", "count": count}])])
    return changed
