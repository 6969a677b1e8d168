from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import User


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
