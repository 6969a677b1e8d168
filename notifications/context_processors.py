"""What every page needs from notifications: the nav's unread badge, and which rooms the
user asked to be reminded of (so every room card, on any page, shows its "Remind me" state
with one query per page rather than one per card)."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from notifications import selectors


def notifications(request: HttpRequest) -> dict:
    def user():
        # Pages rendered before the auth middleware ran (some error pages) have no user.
        return getattr(request, "user", None)

    # Lazy: only pages that show the badge or a room card pay for the query.
    return {
        "notification_unread_count": SimpleLazyObject(lambda: selectors.unread_count(user())),
        "reminded_room_ids": SimpleLazyObject(lambda: selectors.reminded_room_ids(user())),
    }
