from django.conf import settings
from django.db import models
from django.urls import reverse

from catalog.models import Product


class ShoppingRoom(models.Model):
    """A seller's live show. Status only ever moves scheduled -> live -> ended
    (rooms.services holds the one transition table)."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"

    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rooms"
    )
    title = models.CharField(max_length=120)
    description = models.TextField(max_length=2000, blank=True)
    cover_image = models.ImageField(upload_to="rooms/%Y/%m/", blank=True)
    products = models.ManyToManyField(Product, related_name="rooms", blank=True)
    moderators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="moderated_rooms", blank=True
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    scheduled_start = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    spotlight_product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    peak_viewers = models.PositiveIntegerField(default=0)
    total_chat_messages = models.PositiveIntegerField(default=0)
    # Seller analytics (analytics/): distinct viewers the room store saw (persisted with the
    # peak, off the connect path), and "Add to cart" clicks made from the room's page.
    unique_viewers = models.PositiveIntegerField(default=0)
    total_add_to_carts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "scheduled_start"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("rooms:room-detail", kwargs={"pk": self.pk})

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LIVE

    @property
    def is_ended(self) -> bool:
        return self.status == self.Status.ENDED


class ChatMessage(models.Model):
    """A chat line, persisted after it was broadcast (for moderation and replays).
    `message_id` is the id clients saw on the socket."""

    room = models.ForeignKey(ShoppingRoom, on_delete=models.CASCADE, related_name="messages")
    message_id = models.CharField(max_length=32, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages"
    )
    text = models.CharField(max_length=500)
    sent_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["sent_at"]
        indexes = [models.Index(fields=["room", "sent_at"])]

    def __str__(self) -> str:
        return self.text[:40]


class RoomBan(models.Model):
    """A user banned from a room: no chat, no queue, no socket. This row is the record; the
    room store's ban set (rooms/store.py) is a cache of the room's rows, reloaded from here
    when Redis lost it. Written and lifted only through rooms.services (room_ban,
    room_unban), which keep the two in step."""

    room = models.ForeignKey(ShoppingRoom, on_delete=models.CASCADE, related_name="bans")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_bans"
    )
    banned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="rooms_roomban_once_per_room")
        ]

    def __str__(self) -> str:
        return f"{self.user} banned from {self.room}"
