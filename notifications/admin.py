from django.contrib import admin

from notifications.models import Notification, RoomReminder


@admin.register(RoomReminder)
class RoomReminderAdmin(admin.ModelAdmin):
    list_display = ["user", "room", "created_at"]
    search_fields = ["user__username", "room__title"]
    raw_id_fields = ["user", "room"]
    list_select_related = ["user", "room"]
    date_hierarchy = "created_at"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "reason", "room", "created_at", "read_at"]
    list_filter = ["kind", "reason"]
    search_fields = ["user__username", "room__title"]
    raw_id_fields = ["user", "room", "seller"]
    list_select_related = ["user", "room"]
    date_hierarchy = "created_at"
