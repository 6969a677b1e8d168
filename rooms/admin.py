from django.contrib import admin

from rooms.models import ChatMessage, ShoppingRoom


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
