"""Reminders for upcoming shows and the in-site notifications they (and follows) produce.

Written only by notifications.services; the unique constraints hold the rest even against
a race (a double tap on "Remind me", a go-live announced twice)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from rooms.models import ShoppingRoom


class RoomReminder(models.Model):
    """A signed-in user's "Remind me" for a scheduled show."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_reminders"
    )
    room = models.ForeignKey(ShoppingRoom, on_delete=models.CASCADE, related_name="reminders")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="room_reminder_unique_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.user} wants to know when {self.room} goes live"


class Notification(models.Model):
    """Something the site tells one user (the list at /notifications/ and a live toast).

    The words are not stored: they are written from `kind` when shown, so they follow the
    reader's language and the room's current title."""

    class Kind(models.TextChoices):
        ROOM_LIVE = "room_live", "A show went live"

    class Reason(models.TextChoices):
        REMINDER = "reminder", "You asked to be reminded"
        FOLLOWING = "following", "You follow the seller"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    room = models.ForeignKey(
        ShoppingRoom, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One "X is live" per user and show, even for a user who both set a reminder
            # and follows the seller.
            models.UniqueConstraint(
                fields=["user", "room", "kind"], name="notification_unique_per_room"
            ),
        ]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
