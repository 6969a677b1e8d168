from django.contrib import admin

from catalog.models import Category, Product


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "seller",
        "category",
        "price",
        "currency",
        "stock",
        "is_active",
        "created_at",
    ]
    list_filter = ["is_active", "category", "currency", "created_at"]
    search_fields = ["name", "description", "seller__username", "seller__shop_name"]
    list_select_related = ["seller", "category"]
    raw_id_fields = ["seller"]
    readonly_fields = ["slug", "created_at", "updated_at"]
    date_hierarchy = "created_at"
