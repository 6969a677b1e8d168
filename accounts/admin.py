from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import Follow, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "email",
        "display_name",
        "role",
        "shop_name",
        "is_staff",
        "is_active",
        "date_joined",
    ]
    list_filter = ["role", "is_staff", "is_active", "date_joined"]
    search_fields = ["username", "email", "display_name", "shop_name"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("LiveShop", {"fields": ["role", "display_name", "avatar", "shop_name", "bio"]}),
    ]


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    """Who follows whom, for support questions. Follows are made by the users themselves
    (accounts.services); staff may remove one, never add or change it."""

    list_display = ["follower", "seller", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["follower__username", "seller__username", "seller__shop_name"]
    list_select_related = ["follower", "seller"]
    readonly_fields = ["follower", "seller", "created_at"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
