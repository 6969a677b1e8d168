from django.contrib import admin

from rooms import services
from rooms.models import ChatMessage, RoomBan, ShoppingRoom


@admin.register(ShoppingRoom)
class ShoppingRoomAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "seller",
        "status",
        "scheduled_start",
        "peak_viewers",
        "total_chat_messages",
    ]
    list_filter = ["status", "scheduled_start"]
    search_fields = ["title", "seller__username", "seller__shop_name"]
    list_select_related = ["seller"]
    raw_id_fields = ["seller", "spotlight_product"]
    filter_horizontal = ["products", "moderators"]
    # Status and counters move only through rooms.services (transitions are broadcast to
    # the room and counted by the socket); admin shows them, it does not edit them.
    readonly_fields = [
        "status",
        "started_at",
        "ended_at",
        "peak_viewers",
        "total_chat_messages",
        "created_at",
    ]
    date_hierarchy = "scheduled_start"


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ["room", "user", "text", "sent_at", "deleted_at"]
    list_filter = ["sent_at", "deleted_at"]
    search_fields = ["text", "user__username", "room__title"]
    list_select_related = ["room", "user"]
    raw_id_fields = ["room", "user", "deleted_by"]
    readonly_fields = ["message_id", "sent_at"]
    date_hierarchy = "sent_at"


@admin.register(RoomBan)
class RoomBanAdmin(admin.ModelAdmin):
    """Staff see who is banned from which room, and lift a ban by deleting it (one, or the
    selected ones). Bans are made in the room (`ban-user` on the socket), not here."""

    list_display = ["user", "room", "banned_by", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["user__username", "room__title", "banned_by__username"]
    list_select_related = ["room", "user", "banned_by"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a ban is lifted (deleted), never edited

    # Lifting goes through the service: deleting the row alone would leave the user banned in
    # the room store (Redis), which chat and connects check.
    def delete_model(self, request, obj: RoomBan) -> None:
        services.room_unban(room=obj.room, actor=request.user, user_id=obj.user_id)

    def delete_queryset(self, request, queryset) -> None:
        for ban in queryset.select_related("room"):
            services.room_unban(room=ban.room, actor=request.user, user_id=ban.user_id)
